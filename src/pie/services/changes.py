"""Reading the change feed: what changed in a tenant's store since a point, page by page.

A consumer (the sync engine's outbox, the model cache, a client of ``GET /api/changes``) keeps
the last ``seq`` it has seen and asks for what came after it; ``next_since`` is the value to
ask with next time. Seqs are per tenant and in commit order, so nothing committed is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind
from pie.ports.repositories import Change
from pie.ports.uow import UnitOfWork

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ChangePage:
    changes: Sequence[Change]
    since: int
    next_since: int  # the seq to ask after next time (``since`` when nothing came)
    latest: int  # the tenant's newest seq
    more: bool  # whether changes after ``next_since`` exist already


def parse_entity(name: str | None) -> EntityKind | None:
    if name is None or name == "":
        return None
    try:
        return EntityKind(name)
    except ValueError:
        kinds = ", ".join(k.value for k in EntityKind)
        raise InvalidInput(f"unknown entity {name!r}; use one of {kinds}", field="entity") from None


async def list_changes(
    uow: UnitOfWork, *, since: int = 0, entity: EntityKind | None = None, limit: int = 100
) -> ChangePage:
    if since < 0:
        raise InvalidInput("must be 0 or more", field="since")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"must be between 1 and {MAX_LIMIT}", field="limit")
    async with uow:
        changes = await uow.changes.list(since=since, entity=entity, limit=limit + 1)
        latest = await uow.changes.latest()
    page = changes[:limit]
    return ChangePage(
        changes=page,
        since=since,
        next_since=page[-1].seq if page else since,
        latest=latest,
        more=len(changes) > limit,
    )
