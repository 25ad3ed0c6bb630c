"""The change feed and the tenant's field ownership policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pie.domain.model import EntityKind
from pie.entrypoints.api.deps import UowDep
from pie.entrypoints.api.errors import responses
from pie.services.changes import MAX_LIMIT, list_changes
from pie.services.policy import get_policy
from pie.services.schemas.changes import ChangePageRead, PolicyRead

router = APIRouter(prefix="/api", tags=["changes"], responses=responses(401, 422))

MAX_SEQ = 2**62  # far beyond any feed; keeps the database's 64-bit integers from overflowing


@router.get("/changes", response_model=ChangePageRead)
async def changes(
    uow: UowDep,
    since: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Only changes after this seq (next_since)")
    ] = 0,
    # declared without "null" (absent is the default), so the document has one schema for it
    entity: Annotated[EntityKind, Query(description="Only changes of this kind")] = None,  # type: ignore[assignment]
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> ChangePageRead:
    """Every committed change of the tenant's records, oldest first: the record, its new
    version, who wrote it (a source, 'human' or 'pie'), and each changed field as [old, new].
    Keep ``next_since`` and ask with it to read on; nothing committed is ever skipped."""
    page = await list_changes(uow, since=since, entity=entity, limit=limit)
    return ChangePageRead.of(page)


@router.get("/policy", response_model=PolicyRead)
async def policy(uow: UowDep) -> PolicyRead:
    """Who may overwrite which field (default: human > any source > pie)."""
    return PolicyRead.of(await get_policy(uow))
