"""Account and opportunity plans kept current after every conversation (seed 000, pattern 4 and
pitfall 4).

Plans are versioned JSON documents (``uow.plans``; every saved version is also kept in
``uow.intel.plan_versions``). Structured sections are assembled from the store: the deal, its
typed qualification (values, evidence quotes with activity and span, confidence), the account's
political map, next steps and objections from the activities' enrichment. Lists are capped
(key events 50, interaction summaries 20): what falls off is consolidated into the section's
``earlier`` summary, so a plan stays small enough for an LLM context however long the history.

The narrative is assembled offline from the structured data, or written by an LLM when one is
configured (a ``NarrativeWriter``); either way it is cached with a digest of its inputs and
regenerated only when they change.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from pie.domain.intelligence import QUALIFICATION_FIELDS, Qualification, QualificationField
from pie.domain.model import Account, Activity, Contact, Deal, StageTransition, Stakeholder
from pie.domain.plans import (
    MAX_INTERACTION_SUMMARIES,
    MAX_KEY_EVENTS,
    AccountPlan,
    AccountPlanData,
    ActionItem,
    Criterion,
    CriterionEvidence,
    KeyEvent,
    OpportunityPlan,
    OpportunityPlanData,
    QualificationTracking,
    StakeholderSummary,
)
from pie.domain.political import main_roles
from pie.domain.qualification import read_qualification
from pie.ports.intelligence import ActivityIntel, Narrative, PlanVersion
from pie.ports.repositories import DealFilter
from pie.ports.uow import UnitOfWork
from pie.services.political_map import one_per_contact

if TYPE_CHECKING:
    from pie.intelligence.llm import LlmSettings

MAX_ACTION_ITEMS = 30
MAX_LIST = 20  # competitors, risks
ACCOUNT_PLAN_DEALS = 200  # the newest deals an account plan reads
ACCOUNT_PLAN_INTEL = 50  # the latest activities whose extraction it reads


class NarrativeWriter(Protocol):
    """Writes a plan's narrative from its facts (an LLM when configured)."""

    @property
    def name(self) -> str: ...

    async def write(self, kind: str, facts: str) -> str: ...


class OfflineNarrative:
    """The narrative assembled from the facts themselves: no model, no network."""

    name = "offline"

    async def write(self, kind: str, facts: str) -> str:
        return facts


class LlmNarrative:
    """A narrative written by the configured LLM (litellm) from the plan's facts only; on any
    failure the facts themselves, so a plan is never left without one."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return f"llm:{self.settings.model}"

    async def aclose(self) -> None:
        """Release litellm's clients (``pie.intelligence.llm.close_llm_clients``)."""
        from pie.intelligence.llm import close_llm_clients

        await close_llm_clients()

    async def write(self, kind: str, facts: str) -> str:
        import os

        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm

            s = self.settings
            extra: dict[str, Any] = {"api_base": s.api_base} if s.api_base else {}
            if s.api_key:
                extra["api_key"] = s.api_key
            answer = await litellm.acompletion(
                model=s.model,
                messages=[
                    {
                        "role": "system",
                        "content": (
                            f"Write the narrative of a sales {kind} plan in at most five "
                            "sentences, from the facts given and nothing else. Add no fact, "
                            "number, name or date that is not in them."
                        ),
                    },
                    {"role": "user", "content": facts},
                ],
                temperature=0,
                timeout=s.timeout,
                num_retries=0,
                **extra,
            )
            text = str(answer.choices[0].message.content or "").strip()
        except Exception:  # any failure: the offline narrative
            return facts
        return text or facts


def _criterion(f: QualificationField | None) -> Criterion:
    if f is None:
        return Criterion()
    evidence = []
    if f.evidence is not None:
        e = f.evidence
        evidence.append(
            CriterionEvidence(
                quote=e.quote,
                activity_id=e.activity_id,
                start=e.start,
                end=e.end,
                speaker=e.speaker,
                side=e.side.value,
                at=e.at,
            )
        )
    for prior in reversed(f.history[-3:]):
        if prior.evidence is not None and prior.value == f.value:
            e = prior.evidence
            evidence.append(
                CriterionEvidence(
                    quote=e.quote, activity_id=e.activity_id, start=e.start, end=e.end, at=e.at
                )
            )
    status = "confirmed" if f.by_human or f.confidence >= 0.7 else "partial"
    return Criterion(
        status=status,
        value=f.value,
        evidence=evidence,
        confidence=f.confidence,
        by_human=f.by_human,
    )


def _cap_summaries(items: list[str], earlier: str, extra: int) -> tuple[list[str], str]:
    """Keep the newest ``MAX_INTERACTION_SUMMARIES``; fold the rest into ``earlier``."""
    if len(items) <= MAX_INTERACTION_SUMMARIES:
        return items, earlier
    cut = len(items) - MAX_INTERACTION_SUMMARIES
    folded, kept = items[:cut], items[cut:]
    return kept, _fold(earlier, [s.split(":", 1)[-1].strip() for s in folded], extra)


def _fold(earlier: str, texts: Sequence[str], _extra: int) -> str:
    """A bounded consolidation: how many earlier entries, and the gist of the latest folded."""
    count = len(texts)
    if earlier.startswith("Earlier: "):
        with contextlib.suppress(ValueError):
            count += int(earlier.split(" ", 2)[1])
    gist = "; ".join(t[:80] for t in texts[-2:] if t)
    return f"Earlier: {count} entries consolidated. Latest folded: {gist}"[:600]


def _summary_line(a: Activity) -> str:
    text = (a.summary or a.subject or "(no summary)").strip().replace("\n", " ")
    return f"{a.occurred_at.date().isoformat()} {a.type}: {text[:200]}"


def stakeholder_map(
    contacts: Mapping[UUID, Contact], holders: Sequence[Stakeholder]
) -> list[StakeholderSummary]:
    """The plan's stakeholder map: one entry per contact of the account's stakeholders."""
    out = []
    for s in one_per_contact(holders):
        contact = contacts.get(s.contact_id)
        if contact is None:
            continue
        stance = "unknown"
        if s.sentiment is not None:
            stance = (
                "supporter"
                if s.sentiment > 0.2
                else "opponent"
                if s.sentiment < -0.2
                else "neutral"
            )
        if "blocker" in s.roles:
            stance = "opponent"
        elif "champion" in s.roles:
            stance = "supporter"
        out.append(
            StakeholderSummary(
                contact_id=contact.id,
                name=contact.name + (f" ({contact.title})" if contact.title else ""),
                roles=[str(r) for r in main_roles(s.roles)],
                stance=stance,
            )
        )
    return out


async def _stakeholder_map(uow: UnitOfWork, account_id: UUID | None) -> list[StakeholderSummary]:
    if account_id is None:
        return []
    holders = await uow.stakeholders.for_account(account_id)
    contacts = {c.id: c for c in await uow.contacts.for_account(account_id)}
    for s in holders:
        if s.contact_id not in contacts and (c := await uow.contacts.get(s.contact_id)):
            contacts[c.id] = c
    return stakeholder_map(contacts, holders)


def opportunity_facts(deal: Deal, data: OpportunityPlanData) -> str:
    q = data.qualification_tracking
    known = [n for n in QUALIFICATION_FIELDS if getattr(q, n).status != "unknown"]
    unknown = [n for n in QUALIFICATION_FIELDS if getattr(q, n).status == "unknown"]
    parts = [
        f"{deal.name} is in {deal.stage}"
        + (f", worth {deal.value:,.0f} {deal.currency}" if deal.value is not None else "")
        + (f", expected to close {deal.expected_close}" if deal.expected_close else "")
        + "."
    ]
    if known:
        parts.append(
            "Known: "
            + "; ".join(f"{n.replace('_', ' ')}: {_clause(getattr(q, n).value)}" for n in known)
            + "."
        )
    if unknown:
        parts.append("Still unknown: " + ", ".join(n.replace("_", " ") for n in unknown) + ".")
    champions = [s.name for s in data.stakeholder_map if "champion" in s.roles]
    blockers = [s.name for s in data.stakeholder_map if "blocker" in s.roles]
    if champions:
        parts.append("Champion: " + ", ".join(champions) + ".")
    if blockers:
        parts.append("Blocker: " + ", ".join(blockers) + ".")
    open_items = [a.description for a in data.action_items if not a.done][:3]
    if open_items:
        parts.append("Next: " + "; ".join(_clause(i) for i in open_items) + ".")
    return " ".join(parts)


def _clause(value: object) -> str:
    """A value as a clause of a sentence: without its own closing punctuation."""
    return str(value).strip().rstrip(".;")


def account_facts(account: Account, data: AccountPlanData) -> str:
    rh = data.relationship_history
    parts = [f"{account.name}" + (f" ({account.industry})" if account.industry else "") + "."]
    parts.append(
        f"{rh.interactions} interactions"
        + (f" since {rh.first_contact}" if rh.first_contact else "")
        + f"; relationship {rh.relationship_health.replace('_', ' ')}."
    )
    if data.active_deal_ids:
        parts.append(f"{len(data.active_deal_ids)} active deal(s).")
    sp = data.strategic_positioning
    if sp.competitors:
        parts.append("Competitors in play: " + ", ".join(sp.competitors) + ".")
    if sp.risks:
        parts.append("Risks: " + "; ".join(sp.risks[:3]) + ".")
    return " ".join(parts)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def narrative_for(
    kind: str,
    owner: UUID,
    facts: str,
    writer: NarrativeWriter,
    cached: Narrative | None,
    now: datetime,
) -> tuple[str, Narrative | None]:
    """The narrative of these facts: the cached one when its inputs are the same, else a new
    one (returned second, for the caller to save)."""
    digest = _digest(f"{writer.name}\x1f{facts}")
    if cached is not None and cached.inputs_digest == digest:
        return cached.text, None
    text = await writer.write(kind, facts)
    return text, Narrative(
        kind=kind,
        owner_id=owner,
        inputs_digest=digest,
        writer=writer.name,
        text=text,
        created_at=now,
    )


def opportunity_plan_data(
    current: OpportunityPlan | None,
    deal: Deal,
    q: Qualification,
    stakeholders: list[StakeholderSummary],
    activities: Sequence[Activity],
) -> OpportunityPlanData:
    """The opportunity plan from the deal, its qualification (read), its stakeholders and
    activities (oldest first), without its narrative. ``current`` is not changed."""
    data = OpportunityPlanData()
    if current is not None:  # a copy of what this changes in place; the rest is replaced
        data = current.data.model_copy()
        data.core_deal = data.core_deal.model_copy()
    data.core_deal.value = float(deal.value) if deal.value is not None else None
    data.core_deal.expected_close = deal.expected_close
    data.core_deal.product_line = deal.product_line
    timeline = q.timeline
    if timeline is not None:
        data.core_deal.compelling_event = timeline.value
    data.qualification_tracking = QualificationTracking(
        **{n: _criterion(q.get(n)) for n in QUALIFICATION_FIELDS}
    )
    data.stakeholder_map = stakeholders
    summaries = [_summary_line(a) for a in activities if a.summary or a.raw_content]
    kept, earlier = _cap_summaries(summaries, "", 0)
    data.interaction_summaries, data.earlier = kept, earlier
    items: dict[str, ActionItem] = {a.description: a for a in data.action_items}
    for a in activities:
        for step in a.next_steps:
            items.setdefault(step, ActionItem(description=step))
    for a in activities:
        for o in a.objections:
            if not o.resolved:
                text = f"Resolve objection: {o.objection}"
                items.setdefault(text, ActionItem(description=text))
    data.action_items = list(items.values())[-MAX_ACTION_ITEMS:]
    data.core_deal.summary = (
        f"{len(activities)} interactions; BANT {q.bant_completion:.0%}, "
        f"MEDDIC {q.meddic_completion:.0%}"
    )
    data.narrative = ""
    return data


def account_plan_data(
    current: AccountPlan | None,
    account: Account,
    deals: Sequence[Deal],
    activities: Sequence[Activity],
    transitions: Mapping[UUID, Sequence[StageTransition]],
    intel: Sequence[ActivityIntel],
) -> AccountPlanData:
    """The account plan from the account, its deals (newest first), their activities
    (oldest first) and transitions, and the intelligence of the latest 50 activities (oldest
    first), without its narrative."""
    data = AccountPlanData()
    if current is not None:  # a copy of what this changes in place; the rest is replaced
        data = current.data.model_copy()
        data.company_profile = data.company_profile.model_copy()
        data.relationship_history = data.relationship_history.model_copy()
        data.strategic_positioning = data.strategic_positioning.model_copy()
    cp = data.company_profile
    cp.industry = account.industry or cp.industry
    cp.employees = account.employees if account.employees is not None else cp.employees
    cp.headquarters = account.country or cp.headquarters
    data.active_deal_ids = [d.id for d in deals if d.is_open]
    rh = data.relationship_history
    rh.interactions = len(activities)
    rh.first_contact = activities[0].occurred_at.date() if activities else rh.first_contact
    events = [
        KeyEvent(at=a.occurred_at.date(), summary=_summary_line(a).split(" ", 1)[1][:200])
        for a in activities
        if a.summary
    ]
    for d in deals:
        for t in transitions.get(d.id, ()):
            events.append(
                KeyEvent(at=t.at.date(), summary=f"{d.name}: {t.from_stage} -> {t.to_stage}")
            )
    events.sort(key=lambda e: e.at)
    earlier = ""
    if len(events) > MAX_KEY_EVENTS:
        cut = len(events) - MAX_KEY_EVENTS
        earlier = _fold("", [e.summary for e in events[:cut]], 0)
        earlier += f" ({events[0].at} to {events[cut - 1].at})"
        events = events[cut:]
    rh.key_events = events
    summaries = [_summary_line(a) for a in activities if a.summary]
    rh.interaction_summaries, folded = _cap_summaries(summaries, "", 0)
    rh.earlier = " ".join(x for x in (earlier, folded) if x)[:1200]
    sentiments = [float(i.enrichment.get("sentiment") or 0.0) for i in intel if i.enrichment]
    if sentiments:
        mean = sum(sentiments[-10:]) / len(sentiments[-10:])
        rh.relationship_health = (
            "strong" if mean > 0.25 else "at_risk" if mean < -0.2 else "neutral"
        )
    sp = data.strategic_positioning
    competitors = list(sp.competitors)
    for i in intel:
        for c in (i.extraction.get("detection") or {}).get("competitors") or ():
            if c not in competitors:
                competitors.append(str(c))
    sp.competitors = competitors[-MAX_LIST:]
    risks = [
        f"{a.occurred_at.date()}: {o.objection}"
        for a in activities
        for o in a.objections
        if not o.resolved
    ]
    sp.risks = risks[-MAX_LIST:]
    data.narrative = ""
    return data


async def _save_narrative(
    uow: UnitOfWork, kind: str, owner: UUID, facts: str, writer: NarrativeWriter, now: datetime
) -> str:
    text, new = await narrative_for(
        kind, owner, facts, writer, await uow.intel.narrative(kind, owner), now
    )
    if new is not None:
        await uow.intel.save_narrative(new)
    return text


async def update_opportunity_plan(
    uow: UnitOfWork, deal: Deal, *, now: datetime, writer: NarrativeWriter | None = None
) -> OpportunityPlanData:
    writer = writer or OfflineNarrative()
    current = await uow.plans.get_opportunity_plan(deal.id)
    activities = await uow.activities.for_deal(deal.id)
    data = opportunity_plan_data(
        current,
        deal,
        read_qualification(deal.qualification),
        await _stakeholder_map(uow, deal.account_id),
        activities,
    )
    data.narrative = await _save_narrative(
        uow, "deal", deal.id, opportunity_facts(deal, data), writer, now
    )
    if current is not None and current.data == data:
        return data
    saved = await uow.plans.save_opportunity_plan(
        deal.id, data, expected_version=current.version if current else 0
    )
    await uow.intel.save_plan_version(
        PlanVersion(
            kind="deal",
            owner_id=deal.id,
            version=saved.version,
            data=data.model_dump(mode="json"),
            saved_at=now,
        )
    )
    return data


async def update_account_plan(
    uow: UnitOfWork, account_id: UUID, *, now: datetime, writer: NarrativeWriter | None = None
) -> AccountPlanData | None:
    writer = writer or OfflineNarrative()
    account = await uow.accounts.get(account_id)
    if account is None:
        return None
    current = await uow.plans.get_account_plan(account_id)
    deals = await uow.deals.list(DealFilter(account_id=account_id), limit=ACCOUNT_PLAN_DEALS)
    activities: list[Activity] = []
    transitions: dict[UUID, Sequence[StageTransition]] = {}
    for d in deals:
        activities.extend(await uow.activities.for_deal(d.id))
        transitions[d.id] = await uow.transitions.for_deal(d.id)
    activities.sort(key=lambda a: (a.occurred_at, a.id))
    latest = [a.id for a in activities[-ACCOUNT_PLAN_INTEL:]]
    found = await uow.intel.for_activities(latest)
    intel = [found[a] for a in latest if a in found]
    data = account_plan_data(current, account, deals, activities, transitions, intel)
    data.narrative = await _save_narrative(
        uow, "account", account_id, account_facts(account, data), writer, now
    )
    if current is not None and current.data == data:
        return data
    saved = await uow.plans.save_account_plan(
        account_id, data, expected_version=current.version if current else 0
    )
    await uow.intel.save_plan_version(
        PlanVersion(
            kind="account",
            owner_id=account_id,
            version=saved.version,
            data=data.model_dump(mode="json"),
            saved_at=now,
        )
    )
    return data


# --- Markdown --------------------------------------------------------------------------------


def _md_criterion(name: str, c: Criterion) -> list[str]:
    label = name.replace("_", " ").capitalize()
    if c.status == "unknown":
        return [f"- **{label}**: unknown"]
    who = " (set by a person)" if c.by_human else ""
    lines = [f"- **{label}**: {c.value} ({c.status}, confidence {c.confidence:.2f}){who}"]
    for e in c.evidence[:2]:
        where = f" [activity {str(e.activity_id)[:8]}, {e.start}-{e.end}]" if e.activity_id else ""
        lines.append(f'  > "{e.quote}"{where}')
    return lines


def opportunity_markdown(deal: Deal, version: int, data: OpportunityPlanData) -> str:
    cd = data.core_deal
    out = [
        f"# Opportunity plan: {deal.name}",
        "",
        f"Version {version}. Stage {deal.stage}."
        + (f" Value {cd.value:,.0f} {deal.currency}." if cd.value is not None else "")
        + (f" Expected close {cd.expected_close}." if cd.expected_close else "")
        + (f" Product line {cd.product_line}." if cd.product_line else ""),
        "",
        data.narrative,
        "",
        "## Qualification (BANT and MEDDIC)",
        "",
    ]
    for name in QUALIFICATION_FIELDS:
        out.extend(_md_criterion(name, getattr(data.qualification_tracking, name)))
    out += ["", "## Stakeholders", ""]
    if not data.stakeholder_map:
        out.append("- none known yet")
    for s in data.stakeholder_map:
        roles = ", ".join(s.roles) or "no role yet"
        out.append(f"- {s.name}: {roles}; {s.stance}")
    out += ["", "## Action items and next steps", ""]
    if not data.action_items:
        out.append("- none")
    for a in data.action_items:
        out.append(f"- [{'x' if a.done else ' '}] {a.description}")
    out += ["", "## Interactions", ""]
    if data.earlier:
        out.append(f"- {data.earlier}")
    out.extend(f"- {s}" for s in data.interaction_summaries)
    return "\n".join(out).rstrip() + "\n"


def account_markdown(account: Account, version: int, data: AccountPlanData) -> str:
    cp, rh, sp = data.company_profile, data.relationship_history, data.strategic_positioning
    out = [
        f"# Account plan: {account.name}",
        "",
        f"Version {version}.",
        "",
        data.narrative,
        "",
        "## Company profile",
        "",
        f"- Industry: {cp.industry or 'unknown'}",
        f"- Employees: {cp.employees if cp.employees is not None else 'unknown'}",
        f"- Country: {cp.headquarters or 'unknown'}",
        "",
        "## Relationship history",
        "",
        f"- First contact: {rh.first_contact or 'unknown'}",
        f"- Interactions: {rh.interactions}; health: {rh.relationship_health}",
    ]
    if rh.earlier:
        out.append(f"- {rh.earlier}")
    for e in rh.key_events[-10:]:
        out.append(f"- {e.at}: {e.summary}")
    out += ["", "## Strategic positioning", ""]
    out.append(f"- Competitors: {', '.join(sp.competitors) or 'none named'}")
    out.append(f"- Risks: {'; '.join(sp.risks[-5:]) or 'none open'}")
    out += ["", "## Active deals", ""]
    out.extend(f"- {d}" for d in data.active_deal_ids)
    if not data.active_deal_ids:
        out.append("- none")
    return "\n".join(out).rstrip() + "\n"
