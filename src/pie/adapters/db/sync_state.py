"""``SyncStateRepository`` on SQLite and PostgreSQL (tables in tables_sync.py). Every
statement filters by the unit of work's tenant (and row-level security enforces it on
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db.bulk import upsert_rows
from pie.adapters.db.tables_sync import SyncBaseRow, SyncLinkRow, SyncLogRow, SyncStateRow
from pie.domain.crm_fields import RecordKind
from pie.ports.sync import (
    Conflict,
    ConnectionStatus,
    Link,
    LinkStatus,
    SyncState,
    Value,
)

STATE: Table = SyncStateRow.__table__  # type: ignore[assignment]
LINKS: Table = SyncLinkRow.__table__  # type: ignore[assignment]
BASE: Table = SyncBaseRow.__table__  # type: ignore[assignment]
LOG: Table = SyncLogRow.__table__  # type: ignore[assignment]


def _now() -> datetime:
    return datetime.now(UTC)


class SqlSyncStateRepository:
    def __init__(
        self, session: AsyncSession, tenant_id: UUID, clock: Callable[[], datetime] = _now
    ) -> None:
        self._session, self._tenant, self._clock = session, tenant_id, clock

    async def state(self, connection: str) -> SyncState:
        row = (
            (
                await self._session.execute(
                    select(STATE).where(
                        STATE.c.tenant_id == self._tenant, STATE.c.connection == connection
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return SyncState()
        return SyncState(
            cursors=dict(row["cursors"]),
            outbox_seq=row["outbox_seq"],
            status=ConnectionStatus(row["status"]),
            reason=row["reason"],
            last_run_at=row["last_run_at"],
            counters=dict(row["counters"]),
        )

    async def save_state(self, connection: str, state: SyncState) -> None:
        row = {
            "tenant_id": self._tenant,
            "connection": connection,
            "cursors": dict(state.cursors),
            "outbox_seq": state.outbox_seq,
            "status": state.status.value,
            "reason": state.reason,
            "last_run_at": state.last_run_at,
            "counters": dict(state.counters),
        }
        await upsert_rows(self._session, STATE, [row], key=("tenant_id", "connection"))

    async def link(self, connection: str, kind: RecordKind, pie_id: UUID) -> Link | None:
        return await self._one_link(connection, kind, LINKS.c.pie_id == pie_id)

    async def link_by_external(
        self, connection: str, kind: RecordKind, external_id: str
    ) -> Link | None:
        return await self._one_link(connection, kind, LINKS.c.external_id == external_id)

    async def links(self, connection: str, kind: RecordKind) -> Sequence[Link]:
        rows = (
            (
                await self._session.execute(
                    select(LINKS)
                    .where(*self._link_where(connection, kind))
                    .order_by(LINKS.c.pie_id)
                )
            )
            .mappings()
            .all()
        )
        return [_link(r) for r in rows]

    async def save_link(self, connection: str, link: Link) -> None:
        row = {
            "tenant_id": self._tenant,
            "connection": connection,
            "kind": link.kind.value,
            "pie_id": link.pie_id,
            "external_id": link.external_id,
            "status": link.status.value,
            "remote_edited_time": link.remote_edited_time,
            "remote_edited_by": link.remote_edited_by,
            "error": link.error,
        }
        await upsert_rows(
            self._session, LINKS, [row], key=("tenant_id", "connection", "kind", "pie_id")
        )

    async def base(self, connection: str, kind: RecordKind, pie_id: UUID) -> dict[str, Value]:
        rows = (
            await self._session.execute(
                select(BASE.c.field, BASE.c.value).where(
                    BASE.c.tenant_id == self._tenant,
                    BASE.c.connection == connection,
                    BASE.c.kind == kind.value,
                    BASE.c.pie_id == pie_id,
                )
            )
        ).all()
        return {str(f): v[0] for f, v in rows}

    async def bases(
        self, connection: str, kind: RecordKind, pie_ids: Sequence[UUID]
    ) -> dict[UUID, dict[str, Value]]:
        out: dict[UUID, dict[str, Value]] = {}
        ids = list(dict.fromkeys(pie_ids))
        for start in range(0, len(ids), 500):
            rows = (
                await self._session.execute(
                    select(BASE.c.pie_id, BASE.c.field, BASE.c.value).where(
                        BASE.c.tenant_id == self._tenant,
                        BASE.c.connection == connection,
                        BASE.c.kind == kind.value,
                        BASE.c.pie_id.in_(ids[start : start + 500]),
                    )
                )
            ).all()
            for pie_id, name, value in rows:
                out.setdefault(pie_id, {})[str(name)] = value[0]
        return out

    async def save_base(
        self, connection: str, kind: RecordKind, pie_id: UUID, values: Mapping[str, Value]
    ) -> None:
        if not values:
            return
        # delete + insert: JSON null and SQL NULL stay one thing on both engines
        await self._session.execute(
            delete(BASE).where(
                BASE.c.tenant_id == self._tenant,
                BASE.c.connection == connection,
                BASE.c.kind == kind.value,
                BASE.c.pie_id == pie_id,
                BASE.c.field.in_(list(values)),
            )
        )
        await self._session.execute(
            insert(BASE),
            [
                {
                    "tenant_id": self._tenant,
                    "connection": connection,
                    "kind": kind.value,
                    "pie_id": pie_id,
                    "field": name,
                    "value": [
                        value
                    ],  # wrapped: SQLite would turn a bare number's text into a number
                }
                for name, value in values.items()
            ],
        )

    async def log_conflicts(self, connection: str, conflicts: Sequence[Conflict]) -> int:
        added = 0
        for c in conflicts:
            exists = await self._session.scalar(
                select(LOG.c.id).where(
                    LOG.c.tenant_id == self._tenant,
                    LOG.c.connection == connection,
                    LOG.c.kind == c.kind.value,
                    LOG.c.pie_id == c.pie_id,
                    LOG.c.field == c.field,
                    LOG.c.divergence == c.divergence,
                )
            )
            if exists is not None:
                continue
            await self._session.execute(
                insert(LOG).values(
                    tenant_id=self._tenant,
                    connection=connection,
                    run_id=c.run_id,
                    kind=c.kind.value,
                    pie_id=c.pie_id,
                    external_id=c.external_id,
                    field=c.field,
                    divergence=c.divergence,
                    base=[c.base],
                    local=[c.local],
                    remote=[c.remote],
                    winner=c.winner,
                    rule=c.rule,
                    local_time=c.local_time,
                    remote_time=c.remote_time,
                    skew_seconds=c.skew_seconds,
                    at=c.at or self._clock(),
                )
            )
            added += 1
        return added

    async def conflicts(
        self, connection: str, *, after_id: int = 0, limit: int = 100
    ) -> Sequence[Conflict]:
        rows = (
            (
                await self._session.execute(
                    select(LOG)
                    .where(
                        LOG.c.tenant_id == self._tenant,
                        LOG.c.connection == connection,
                        LOG.c.id > after_id,
                    )
                    .order_by(LOG.c.id)
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
        return [_conflict(r) for r in rows]

    async def count_conflicts(self, connection: str) -> int:
        n = await self._session.scalar(
            select(func.count())
            .select_from(LOG)
            .where(LOG.c.tenant_id == self._tenant, LOG.c.connection == connection)
        )
        return int(n or 0)

    # --- internals -------------------------------------------------------------------------

    def _link_where(self, connection: str, kind: RecordKind) -> list[Any]:
        return [
            LINKS.c.tenant_id == self._tenant,
            LINKS.c.connection == connection,
            LINKS.c.kind == kind.value,
        ]

    async def _one_link(self, connection: str, kind: RecordKind, cond: Any) -> Link | None:
        row = (
            (
                await self._session.execute(
                    select(LINKS).where(*self._link_where(connection, kind), cond)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _link(row)


def _link(r: Any) -> Link:
    return Link(
        kind=RecordKind(r["kind"]),
        pie_id=r["pie_id"],
        external_id=r["external_id"],
        status=LinkStatus(r["status"]),
        remote_edited_time=r["remote_edited_time"],
        remote_edited_by=r["remote_edited_by"],
        error=r["error"],
    )


def _conflict(r: Any) -> Conflict:
    return Conflict(
        kind=RecordKind(r["kind"]),
        pie_id=r["pie_id"],
        external_id=r["external_id"],
        field=r["field"],
        base=r["base"][0],
        local=r["local"][0],
        remote=r["remote"][0],
        winner=r["winner"],
        rule=r["rule"],
        run_id=r["run_id"],
        local_time=r["local_time"],
        remote_time=r["remote_time"],
        skew_seconds=r["skew_seconds"],
        at=r["at"],
        id=r["id"],
    )
