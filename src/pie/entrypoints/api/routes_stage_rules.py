"""Stage progression settings and the stall check: the tenant's stage evidence requirements
and stalled-after days (as `pie deals stage-rules`), and stalling quiet deals now (as
`pie deals stall-check`; the job queue also runs it hourly)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from pie.entrypoints.api.deps import ContainerDep, TenantDep
from pie.entrypoints.api.errors import responses
from pie.services.intel_reads import progression_settings
from pie.services.schemas.stage_rules import StageRulesBody, StageRulesRead, StallReportRead
from pie.services.stalling import check_tenant

router = APIRouter(prefix="/api", tags=["intelligence"], responses=responses(401, 422))


@router.get("/stage-rules", response_model=StageRulesRead)
async def get_stage_rules(c: ContainerDep, tenant: TenantDep) -> StageRulesRead:
    """The requirements a deal's evidence must meet for each stage (minimum BANT and MEDDIC
    completion, interactions, required signals; cumulative) and after how many days without
    activity an open deal becomes stalled."""
    return StageRulesRead.of(await progression_settings(c.uow(tenant)))


@router.put("/stage-rules", response_model=StageRulesRead)
async def put_stage_rules(
    body: StageRulesBody, c: ContainerDep, tenant: TenantDep
) -> StageRulesRead:
    """Replace the tenant's settings: stages the body does not name get the default
    requirements back. Deals move on their next conversation (or `pie conversations
    reprocess`); the stall check uses the new days at once."""
    return StageRulesRead.of(
        await progression_settings(c.uow(tenant, writes=True), body.to_domain())
    )


@router.post("/deals/stall-check", response_model=StallReportRead)
async def post_stall_check(c: ContainerDep, tenant: TenantDep) -> StallReportRead:
    """Stall every open deal with no activity for the stalled-after days (a stage a person
    set stays, and is listed under `kept`); new activity revives a stalled deal."""
    report = await check_tenant(c.uow(tenant, writes=True), now=datetime.now(UTC))
    return StallReportRead.of(report)
