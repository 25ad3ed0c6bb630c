"""Reading the two-way CRM sync's state: its status and its conflict log. (Running it is
pie.sync's SyncEngine, composed in pie.bootstrap.)"""

from __future__ import annotations

from pie.domain.crm_fields import RecordKind
from pie.domain.errors import InvalidInput
from pie.ports.sync import LinkStatus
from pie.ports.uow import UnitOfWork
from pie.services.schemas.sync import SyncConflictRead, SyncLogRead, SyncStatusRead

DEFAULT_CONNECTION = "notion"


async def status(uow: UnitOfWork, connection: str = DEFAULT_CONNECTION) -> SyncStatusRead:
    async with uow:
        state = await uow.sync.state(connection)
        latest = await uow.changes.latest()
        linked: dict[str, int] = {}
        errors = 0
        for kind in RecordKind:
            links = await uow.sync.links(connection, kind)
            linked[kind.value] = sum(1 for x in links if x.status is LinkStatus.LINKED)
            errors += sum(1 for x in links if x.error)
        conflicts = await uow.sync.count_conflicts(connection)
    return SyncStatusRead.of(
        connection,
        state,
        pending=max(0, latest - state.outbox_seq),
        linked=linked,
        errors=errors,
        conflicts=conflicts,
    )


async def log(
    uow: UnitOfWork, connection: str = DEFAULT_CONNECTION, *, after: int = 0, limit: int = 50
) -> SyncLogRead:
    if not 1 <= limit <= 1000:
        raise InvalidInput("must be 1-1000", field="limit")
    if after < 0:
        raise InvalidInput("must be 0 or more", field="after")
    async with uow:
        rows = await uow.sync.conflicts(connection, after_id=after, limit=limit + 1)
        total = await uow.sync.count_conflicts(connection)
    more = len(rows) > limit
    rows = rows[:limit]
    return SyncLogRead(
        connection=connection,
        conflicts=[SyncConflictRead.of(c) for c in rows],
        total=total,
        next_after=rows[-1].id if more and rows else None,
    )
