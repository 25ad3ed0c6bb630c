"""The two-way CRM sync's status and conflict log (running it is `pie sync run`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pie.entrypoints.api.deps import UowDep
from pie.entrypoints.api.errors import responses
from pie.services import sync as service
from pie.services.schemas.sync import SyncLogRead, SyncStatusRead

router = APIRouter(prefix="/api/sync", tags=["sync"], responses=responses(401, 422))
MAX_ID = 2**62


@router.get("/status", response_model=SyncStatusRead)
async def status(uow: UowDep) -> SyncStatusRead:
    """The Notion sync: status (idle, ok, throttled, paused and why), the last run, the
    inbound cursors, changes waiting to go out, linked records, the error queue and how many
    conflicts were logged."""
    return await service.status(uow)


@router.get("/log", response_model=SyncLogRead)
async def log(
    uow: UowDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Only entries after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> SyncLogRead:
    """Every conflict the sync decided, oldest first: the record and field, the last agreed
    value, PIE's and Notion's values, the winner and the rule. Each conflict appears once."""
    return await service.log(uow, after=after, limit=limit)
