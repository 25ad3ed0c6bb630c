"""Stalling on a schedule: deals with no activity for the tenant's ``stalled_after_days``
become ``stalled`` without waiting for the next conversation or replay.

``check_tenant`` is the use case (`pie deals stall-check`, `POST /api/deals/stall-check`);
``check_all`` runs it for every tenant, each in its own transaction: the job queue's periodic
task on PostgreSQL (``pie.stall_check`` in ``pie.adapters.jobs``) and ``pie worker``'s loop
on SQLite. A human-set stage is never moved; new activity revives a stalled deal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from uuid import UUID

from pie.domain.errors import PieError
from pie.ports.uow import UnitOfWork
from pie.services.progression import StallReport, stall_check

log = logging.getLogger(__name__)


async def check_tenant(uow: UnitOfWork, *, now: datetime) -> StallReport:
    """Stall the tenant's quiet deals (one transaction) and report them."""
    async with uow:
        report = await stall_check(uow, now=now)
        await uow.commit()
    return report


async def check_all(
    tenant_ids: Callable[[], Awaitable[Sequence[UUID]]],
    uow: Callable[[UUID], UnitOfWork],
    *,
    now: datetime,
) -> dict[UUID, StallReport]:
    """``check_tenant`` for every tenant (``tenant_ids``: the store's, e.g.
    ``SqlTenantDirectory.ids``); a tenant that fails is logged and skipped."""
    out: dict[UUID, StallReport] = {}
    for tid in await tenant_ids():
        try:
            out[tid] = await check_tenant(uow(tid), now=now)
        except PieError as err:
            log.warning("stall check of tenant %s failed: %s", tid, err)
            continue
        if out[tid].stalled:
            log.info("tenant %s: %d deal(s) stalled", tid, len(out[tid].stalled))
    return out
