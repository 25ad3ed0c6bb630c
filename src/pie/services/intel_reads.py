"""Reading deal intelligence the way people name things: plans of a deal or an account, a
deal's qualification and its activities' enrichment, stage explanations."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pie.domain.errors import AccountNotFound, DealNotFound, NotFound
from pie.domain.intelligence import Qualification
from pie.domain.model import EntityKind
from pie.domain.progression import ProgressionSettings
from pie.domain.qualification import read_qualification
from pie.ports.intelligence import ActivityIntel
from pie.ports.uow import UnitOfWork
from pie.services import plans_intel, progression
from pie.services.refs import resolve_id


async def resolve_account(uow: UnitOfWork, ident: str | UUID) -> UUID:
    """An account by PIE id, SOURCE:EXTERNAL_ID or email domain (``globex.com``)."""
    try:
        return await resolve_id(uow, EntityKind.ACCOUNT, ident)
    except NotFound:
        if isinstance(ident, UUID) or "." not in ident:
            raise
    async with uow:
        found = await uow.intel.find_accounts([ident])
    key = ident.lower().removeprefix("www.")
    if key in found:
        return found[key]
    raise AccountNotFound(ident)


@dataclass(frozen=True, slots=True)
class PlanView:
    kind: Literal["account", "deal"]
    owner_id: UUID
    version: int
    data: dict[str, Any]
    markdown: str


async def plan_view(
    uow: UnitOfWork,
    ident: str,
    *,
    now: datetime,
    only: Literal["account", "deal"] | None = None,
) -> PlanView:
    """The plan of the deal or account ``ident`` names (a deal first). A deal or account with
    no plan yet gets one assembled now (and stored, version 1)."""
    kind: Literal["account", "deal"] = "account"
    owner: UUID | None = None
    with contextlib.suppress(NotFound):
        owner = await resolve_id(uow, EntityKind.DEAL, ident)
    if owner is not None and only != "account":
        async with uow:
            if await uow.deals.get(owner) is not None:
                kind = "deal"
    if only == "deal" and kind != "deal":
        raise DealNotFound(ident)
    if kind == "account":
        owner = await resolve_account(uow, ident)
    assert owner is not None
    async with uow:
        if kind == "deal":
            deal = await uow.deals.get(owner)
            if deal is None:
                raise DealNotFound(owner)
            plan = await uow.plans.get_opportunity_plan(owner)
            if plan is None:
                await plans_intel.update_opportunity_plan(uow, deal, now=now)
                await uow.commit()
                plan = await uow.plans.get_opportunity_plan(owner)
            assert plan is not None
            return PlanView(
                "deal",
                owner,
                plan.version,
                plan.data.model_dump(mode="json"),
                plans_intel.opportunity_markdown(deal, plan.version, plan.data),
            )
        account = await uow.accounts.get(owner)
        if account is None:
            raise AccountNotFound(ident)
        aplan = await uow.plans.get_account_plan(owner)
        if aplan is None:
            await plans_intel.update_account_plan(uow, owner, now=now)
            await uow.commit()
            aplan = await uow.plans.get_account_plan(owner)
        assert aplan is not None
        return PlanView(
            "account",
            owner,
            aplan.version,
            aplan.data.model_dump(mode="json"),
            plans_intel.account_markdown(account, aplan.version, aplan.data),
        )


@dataclass(frozen=True, slots=True)
class DealIntelligence:
    qualification: Qualification
    activities: Sequence[ActivityIntel]


async def deal_intelligence(uow: UnitOfWork, deal_id: UUID) -> DealIntelligence:
    async with uow:
        deal = await uow.deals.get(deal_id)
        if deal is None:
            raise DealNotFound(deal_id)
        acts = await uow.activities.for_deal(deal_id)
        intel = await uow.intel.for_activities([a.id for a in acts])
    return DealIntelligence(
        read_qualification(deal.qualification),
        [intel[a.id] for a in acts if a.id in intel],
    )


async def explain_deal(uow: UnitOfWork, deal_id: UUID, *, now: datetime) -> progression.Explanation:
    async with uow:
        return await progression.explain(uow, deal_id, now=now)


async def progression_settings(
    uow: UnitOfWork, new: ProgressionSettings | None = None
) -> ProgressionSettings:
    """The tenant's stage requirements and stalled-after days; with ``new`` they are replaced
    first (read a document with ``StageRulesBody``: stages it does not name keep the
    default)."""
    async with uow:
        if new is not None:
            await uow.intel.save_settings(new)
            await uow.commit()
        return await uow.intel.settings()
