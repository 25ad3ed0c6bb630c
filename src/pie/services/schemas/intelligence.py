"""Deal intelligence as JSON shapes (CLI --json and the API alike): conversations processed,
qualification with evidence, political maps, plans and stage explanations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from pie.domain.intelligence import QUALIFICATION_FIELDS, Evidence, Qualification
from pie.domain.model import StakeholderRole
from pie.domain.political import SCORE_RANGES, RelationshipKind, main_roles, sub_roles
from pie.ports.intelligence import ActivityIntel
from pie.services.conversations import Processed, ReprocessReport
from pie.services.political_map import PoliticalMap, to_dot
from pie.services.progression import Explanation


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvidenceRead(_Out):
    quote: str = Field(description="Verbatim: exactly the activity's text[start:end]")
    start: int
    end: int
    activity_id: UUID | None
    speaker: str | None
    side: str

    @classmethod
    def of(cls, e: Evidence) -> EvidenceRead:
        return cls(
            quote=e.quote,
            start=e.start,
            end=e.end,
            activity_id=e.activity_id,
            speaker=e.speaker,
            side=e.side.value,
        )


class QualificationFieldRead(_Out):
    name: str
    framework: Literal["BANT", "MEDDIC"]
    value: str
    confidence: float
    by_human: bool
    evidence: EvidenceRead | None
    earlier_values: int = Field(description="How many earlier values the history keeps")


class QualificationRead(_Out):
    bant_completion: float
    meddic_completion: float
    fields: list[QualificationFieldRead]
    missing: list[str]

    @classmethod
    def of(cls, q: Qualification) -> QualificationRead:
        fields = [
            QualificationFieldRead(
                name=name,
                framework="BANT" if name in QUALIFICATION_FIELDS[:4] else "MEDDIC",
                value=f.value,
                confidence=f.confidence,
                by_human=f.by_human,
                evidence=EvidenceRead.of(f.evidence) if f.evidence else None,
                earlier_values=len(f.history),
            )
            for name, f in q.items()
        ]
        have = {f.name for f in fields}
        return cls(
            bant_completion=q.bant_completion,
            meddic_completion=q.meddic_completion,
            fields=fields,
            missing=[n for n in QUALIFICATION_FIELDS if n not in have],
        )


class DecisionRead(_Out):
    action: Literal["create", "update", "none"]
    deal_id: UUID | None
    reason: str
    confidence: float


class StageChangeRead(_Out):
    from_stage: str
    to_stage: str
    reason: str


class ConversationRead(_Out):
    activity_id: UUID
    account_id: UUID | None
    deal_id: UUID | None
    created_deal: bool
    skipped: bool = Field(description="This conversation was processed before: nothing changed")
    decision: DecisionRead
    stage_change: StageChangeRead | None
    stakeholder_ids: list[UUID]
    contacts_created: int
    kept: list[dict[str, str]] = Field(
        description="Field writes the ownership policy refused (what a person or CRM set stays)"
    )
    warnings: list[str]
    extraction: dict[str, Any] = Field(
        description="Everything extracted: qualification, detection, enrichment, with evidence"
    )

    @classmethod
    def of(cls, p: Processed) -> ConversationRead:
        a = p.applied
        return cls(
            activity_id=a.activity_id,
            account_id=a.account_id,
            deal_id=a.deal_id,
            created_deal=a.created_deal,
            skipped=a.skipped,
            decision=DecisionRead(
                action=a.decision.action.value,
                deal_id=a.decision.deal_id,
                reason=a.decision.reason,
                confidence=a.decision.confidence,
            ),
            stage_change=StageChangeRead(
                from_stage=str(a.stage_from), to_stage=str(a.stage_to), reason=a.stage_reason or ""
            )
            if a.stage_to is not None and a.stage_from is not None
            else None,
            stakeholder_ids=a.stakeholder_ids,
            contacts_created=a.contacts_created,
            kept=[k.to_dict() for k in a.kept],
            warnings=a.warnings,
            extraction=p.extraction.model_dump(mode="json"),
        )


class ReprocessRead(_Out):
    seen: int
    processed: int
    skipped: int
    deals_created: int
    stage_moves: int
    stalled: list[UUID]
    warnings: list[str]

    @classmethod
    def of(cls, r: ReprocessReport) -> ReprocessRead:
        return cls(
            seen=r.seen,
            processed=r.processed,
            skipped=r.skipped,
            deals_created=r.deals_created,
            stage_moves=r.stage_moves,
            stalled=r.stalled,
            warnings=r.warnings[:50],
        )


class ScoreRead(_Out):
    name: str
    value: float
    source: Literal["heuristic", "conversation_signal", "human_override"]
    evidence: str
    at: datetime
    activity_id: UUID | None
    by: str | None


class StakeholderMapRead(_Out):
    id: UUID
    contact_id: UUID
    name: str
    title: str | None
    email: str | None
    roles: list[str] = Field(description="Seed 000's six roles (a sub-role counts as its role)")
    sub_roles: list[str] = Field(description="Seed 004's economic buyer, technical buyer, ...")
    scores: list[ScoreRead]
    communication_style: str | None
    note: str | None = Field(
        default=None,
        description="The stakeholder's note: e.g. why PIE changed a champion/blocker stance, "
        "or that the evidence conflicts",
    )


class RelationshipRead(_Out):
    id: UUID
    from_id: UUID
    to_id: UUID
    kind: str
    source: str
    evidence: str


class PoliticalMapRead(_Out):
    account_id: UUID
    account: str
    stakeholders: list[StakeholderMapRead]
    relationships: list[RelationshipRead]
    dot: str = Field(description="The map as Graphviz DOT")
    svg: str | None = Field(default=None, description="The map drawn as SVG, when asked for")

    @classmethod
    def of(cls, pm: PoliticalMap) -> PoliticalMapRead:
        return cls(
            account_id=pm.account.id,
            account=pm.account.name,
            stakeholders=[
                StakeholderMapRead(
                    id=e.stakeholder.id,
                    contact_id=e.contact.id,
                    name=e.contact.name,
                    title=e.contact.title,
                    email=e.contact.email,
                    roles=[str(r) for r in main_roles(e.stakeholder.roles)],
                    sub_roles=[str(r) for r in sub_roles(e.stakeholder.roles)],
                    scores=[
                        ScoreRead(
                            name=name,
                            value=rec.value,
                            source=rec.source.value,
                            evidence=rec.evidence,
                            at=rec.at,
                            activity_id=rec.activity_id,
                            by=rec.by,
                        )
                        for name, rec in sorted(e.profile.scores.items())
                    ],
                    communication_style=e.profile.communication_style,
                    note=e.stakeholder.notes,
                )
                for e in pm.entries
            ],
            relationships=[
                RelationshipRead(
                    id=r.id,
                    from_id=r.from_id,
                    to_id=r.to_id,
                    kind=r.kind.value,
                    source=r.source.value,
                    evidence=r.evidence,
                )
                for r in pm.relationships
            ],
            dot=to_dot(pm),
        )


ScoreName = Literal[
    "decision_power", "influence", "relationship_strength", "sentiment", "engagement"
]
assert set(ScoreName.__args__) == set(SCORE_RANGES)  # type: ignore[attr-defined]


class OverrideBody(_Out):
    """A person's override of a stakeholder (``who``: stakeholder id, contact id, email or
    name). Scores: decision_power, influence, relationship_strength 0-10; sentiment -1..1;
    engagement 0..1."""

    who: str = Field(min_length=1, max_length=300)
    scores: dict[ScoreName, float] = Field(default_factory=dict)
    add_roles: list[StakeholderRole] = Field(default_factory=list)
    remove_roles: list[StakeholderRole] = Field(default_factory=list)
    relationship: RelationshipKind | None = None
    to: str | None = Field(default=None, max_length=300, description="The other stakeholder")
    communication_style: str | None = Field(default=None, max_length=100)
    note: str = Field(default="", max_length=2000, description="Why: kept as the evidence")


class PlanRead(_Out):
    kind: Literal["account", "deal"]
    owner_id: UUID
    version: int
    markdown: str
    data: dict[str, Any]


class ProposalRead(_Out):
    to_stage: str | None = Field(description="Where the evidence would move it now (None: stay)")
    reason: str
    next_stage: str | None
    missing: list[str] = Field(description="What the next stage still needs")


class TransitionEvidenceRead(_Out):
    from_stage: str | None
    to_stage: str
    at: datetime
    trigger_activity_id: UUID | None
    reason: str | None
    evidence: list[dict[str, Any]]


class ExplainRead(_Out):
    deal_id: UUID
    name: str
    stage: str
    stage_set_by: str | None
    pie_may_move: bool
    bant_completion: float
    meddic_completion: float
    fields: list[str]
    interactions: int
    signals: list[str]
    proposal: ProposalRead
    last_activity: datetime | None
    stalled_after_days: int
    stalls_on: date | None
    transitions: list[TransitionEvidenceRead]

    @classmethod
    def of(cls, x: Explanation) -> ExplainRead:
        ev, p = x.evidence, x.proposal
        return cls(
            deal_id=x.deal.id,
            name=x.deal.name,
            stage=str(x.deal.stage),
            stage_set_by=x.stage_owner,
            pie_may_move=x.may_move,
            bant_completion=ev.bant,
            meddic_completion=ev.meddic,
            fields=sorted(ev.fields),
            interactions=ev.interactions,
            signals=sorted(ev.satisfied),
            proposal=ProposalRead(
                to_stage=str(p.to_stage) if p.to_stage else None,
                reason=p.reason,
                next_stage=str(p.next_stage) if p.next_stage else None,
                missing=list(p.missing),
            ),
            last_activity=x.last_activity,
            stalled_after_days=x.stalled_after_days,
            stalls_on=x.stalls_on.date() if x.stalls_on else None,
            transitions=[
                TransitionEvidenceRead(
                    from_stage=str(t.from_stage) if t.from_stage else None,
                    to_stage=str(t.to_stage),
                    at=t.at,
                    trigger_activity_id=t.trigger_activity_id,
                    reason=why.reason if why else None,
                    evidence=[dict(e) for e in why.evidence] if why else [],
                )
                for t, why in x.transitions
            ],
        )


class ActivityIntelRead(_Out):
    activity_id: UUID
    extractor: str
    processed_at: datetime
    summary: str
    sentiment: float
    key_moments: list[dict[str, Any]]
    objections: list[dict[str, Any]]
    next_steps: list[dict[str, Any]]
    communication_style: str | None
    warnings: list[str]

    @classmethod
    def of(cls, i: ActivityIntel) -> ActivityIntelRead:
        en = i.enrichment
        return cls(
            activity_id=i.activity_id,
            extractor=i.extractor,
            processed_at=i.processed_at,
            summary=str(en.get("summary") or ""),
            sentiment=float(en.get("sentiment") or 0.0),
            key_moments=list(en.get("key_moments") or []),
            objections=list(en.get("objections") or []),
            next_steps=list(en.get("next_steps") or []),
            communication_style=en.get("communication_style"),
            warnings=list(i.warnings),
        )
