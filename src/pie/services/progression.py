"""The stage progression engine (seed 000 pattern 6) over the store: advance a deal when its
evidence meets the next stages' requirements, stall quiet deals, revive them on new activity,
and explain what is missing.

PIE moves a deal's stage only where the ownership policy lets origin ``pie`` replace whoever set
it: a stage a person set (or a CRM owns) is respected and never moved back or forward by PIE;
``explain`` then says what the evidence supports. Every move records a StageTransition with the
trigger activity and, in ``uow.intel``, the reason and the evidence quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pie.domain.errors import DealNotFound
from pie.domain.model import Activity, Deal, EntityKind, StageTransition, derive_id
from pie.domain.ownership import PIE
from pie.domain.progression import (
    FIELD_SIGNALS,
    Evidence,
    ProgressionSettings,
    Proposal,
    cumulative,
    evidence_of,
    is_stalled,
    propose_stage,
)
from pie.domain.qualification import filled, read_qualification
from pie.domain.stages import DEFAULT_PROBABILITY, OPEN_PIPELINE, Stage
from pie.ports.intelligence import TransitionEvidence
from pie.ports.uow import UnitOfWork


async def deal_evidence(uow: UnitOfWork, deal: Deal) -> tuple[Evidence, Sequence[Activity]]:
    activities = await uow.activities.for_deal(deal.id)
    intel = await uow.intel.for_activities([a.id for a in activities])
    signals: set[str] = set()
    for item in intel.values():
        for s in (item.extraction.get("detection") or {}).get("signals") or ():
            if isinstance(s, dict) and s.get("kind"):
                signals.add(str(s["kind"]))
    q = read_qualification(deal.qualification)
    return evidence_of(filled(q), signals, len(activities)), activities


async def stage_owner(uow: UnitOfWork, deal: Deal) -> tuple[str | None, bool]:
    """Who set the deal's stage, and whether PIE may change it."""
    prov = await uow.deals.provenance(deal.id)
    owner = prov["stage"][0] if prov.get("stage") else None
    if owner is None or owner == PIE:
        return owner, True
    policy = await uow.policy.get()
    return owner, policy.may_replace(EntityKind.DEAL, "stage", PIE, owner)


async def _stalled_from(uow: UnitOfWork, deal: Deal) -> Stage | None:
    if deal.stage is not Stage.STALLED:
        return None
    for t in reversed(await uow.transitions.for_deal(deal.id)):
        if t.to_stage is Stage.STALLED:
            return t.from_stage
    return None


def evidence_quotes(deal: Deal, req_stage: Stage, settings: ProgressionSettings) -> list[Any]:
    """The quotes behind the fields the target stage's requirements lean on."""
    q = read_qualification(deal.qualification)
    wanted: set[str] = set()
    for req in cumulative(settings, req_stage):
        wanted |= {f for f, s in FIELD_SIGNALS.items() if s in req.required_signals}
    out: list[dict[str, Any]] = []
    for name, f in q.items():
        if f.evidence is None:
            continue
        if wanted and name not in wanted and len(out) >= 6:
            continue
        out.append(
            {
                "field": name,
                "value": f.value,
                "quote": f.evidence.quote,
                "activity_id": str(f.evidence.activity_id) if f.evidence.activity_id else None,
                "start": f.evidence.start,
                "end": f.evidence.end,
            }
        )
    return out


def transition_to(
    tenant_id: UUID,
    deal: Deal,
    to: Stage,
    *,
    at: datetime,
    since: datetime,
    trigger: Activity | None,
) -> StageTransition:
    """The transition moving ``deal`` to ``to`` at ``at`` (``since``: when it entered its
    current stage); its id is stable, so replaying the same move writes nothing new."""
    days = max(0.0, (at - since).total_seconds() / 86400)
    return StageTransition(
        id=derive_id(
            tenant_id,
            EntityKind.STAGE_TRANSITION,
            "pie",
            deal.id,
            str(deal.stage),
            str(to),
            trigger.id if trigger else at.isoformat(),
        ),
        tenant_id=tenant_id,
        deal_id=deal.id,
        from_stage=deal.stage,
        to_stage=to,
        at=at,
        days_in_from_stage=days,
        trigger_activity_id=trigger.id if trigger else None,
        value=deal.value,
        expected_close=deal.expected_close,
        probability=DEFAULT_PROBABILITY[to],
    )


async def _move(
    uow: UnitOfWork,
    deal: Deal,
    to: Stage,
    *,
    at: datetime,
    trigger: Activity | None,
    reason: str,
    evidence: list[Any],
) -> None:
    transitions = await uow.transitions.for_deal(deal.id)
    since = transitions[-1].at if transitions else deal.created_at
    at = max(at, since)  # history replayed out of order never goes back in time
    moved = replace(
        deal, stage=to, probability=DEFAULT_PROBABILITY[to], updated_at=max(at, deal.updated_at)
    )
    await uow.deals.update(moved, origin=PIE, fields=frozenset({"stage", "probability"}))
    tr = transition_to(uow.tenant_id, deal, to, at=at, since=since, trigger=trigger)
    if await uow.transitions.get(tr.id) is None:
        await uow.transitions.add(tr, origin=PIE)
    await uow.intel.save_transition_evidence(
        TransitionEvidence(transition_id=tr.id, reason=reason, evidence=tuple(evidence))
    )


@dataclass(frozen=True, slots=True)
class Explanation:
    deal: Deal
    stage_owner: str | None
    may_move: bool
    evidence: Evidence
    proposal: Proposal
    last_activity: datetime | None
    stalled_after_days: int
    stalls_on: datetime | None  # when it stalls without new activity (open, PIE-owned)
    transitions: Sequence[tuple[StageTransition, TransitionEvidence | None]] = field(
        default_factory=tuple
    )


async def explain(uow: UnitOfWork, deal_id: UUID, *, now: datetime) -> Explanation:
    deal = await uow.deals.get(deal_id)
    if deal is None:
        raise DealNotFound(deal_id)
    settings = await uow.intel.settings()
    ev, activities = await deal_evidence(uow, deal)
    owner, may = await stage_owner(uow, deal)
    proposal = propose_stage(
        settings,
        deal.stage,
        ev,
        stage_owner=owner,
        may_move=may,
        stalled_from=await _stalled_from(uow, deal),
    )
    last = max((a.occurred_at for a in activities), default=None)
    stalls_on = None
    if deal.stage in OPEN_PIPELINE and may:
        stalls_on = (last or deal.created_at) + timedelta(days=settings.stalled_after_days)
    transitions = await uow.transitions.for_deal(deal.id)
    why = await uow.intel.transition_evidence([t.id for t in transitions])
    return Explanation(
        deal=deal,
        stage_owner=owner,
        may_move=may,
        evidence=ev,
        proposal=proposal,
        last_activity=last,
        stalled_after_days=settings.stalled_after_days,
        stalls_on=stalls_on,
        transitions=tuple((t, why.get(t.id)) for t in transitions),
    )


@dataclass(frozen=True, slots=True)
class QuietDeal:
    deal_id: UUID
    name: str
    stage: Stage  # the stage it was in
    last_activity: datetime | None
    stage_owner: str | None = None


@dataclass(frozen=True, slots=True)
class StallReport:
    """One stall check: the deals stalled, and the quiet deals left as they are because a
    person (or a CRM owning the stage) set their stage."""

    checked_at: datetime
    stalled_after_days: int
    open_deals: int
    stalled: tuple[QuietDeal, ...] = ()
    kept: tuple[QuietDeal, ...] = ()


async def stall_check(uow: UnitOfWork, *, now: datetime) -> StallReport:
    """Stall every open deal PIE may move that had no activity for the tenant's
    ``stalled_after_days``, recording a transition with the reason; report them, and the quiet
    deals whose stage a person set (never moved). New activity revives a stalled deal
    (``advance``). Idempotent: a stalled deal is no longer open."""
    settings = await uow.intel.settings()
    stalled: list[QuietDeal] = []
    kept: list[QuietDeal] = []
    candidates: list[Deal] = []
    async for batch in uow.deals.iter_all():
        candidates.extend(d for d in batch if d.stage in OPEN_PIPELINE)
    for deal in candidates:
        activities = await uow.activities.for_deal(deal.id)
        last = max((a.occurred_at for a in activities), default=None)
        if not is_stalled(deal.stage, last, deal.created_at, now, settings.stalled_after_days):
            continue
        owner, may = await stage_owner(uow, deal)
        quiet = QuietDeal(deal.id, deal.name, deal.stage, last, owner)
        if not may:
            kept.append(quiet)
            continue
        await _move(
            uow,
            deal,
            Stage.STALLED,
            at=now,
            trigger=None,
            reason=f"no activity for {settings.stalled_after_days} days or more",
            evidence=[{"last_activity": last.isoformat() if last else None}],
        )
        stalled.append(quiet)
    return StallReport(
        checked_at=now,
        stalled_after_days=settings.stalled_after_days,
        open_deals=len(candidates),
        stalled=tuple(stalled),
        kept=tuple(kept),
    )


async def stall_quiet_deals(uow: UnitOfWork, *, now: datetime) -> list[UUID]:
    """``stall_check``, the stalled deals' ids."""
    return [d.deal_id for d in (await stall_check(uow, now=now)).stalled]
