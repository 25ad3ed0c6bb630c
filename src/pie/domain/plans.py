"""Account and opportunity plans: versioned JSON documents validated by Pydantic (seed 000,
pattern 4). The store keeps the document and a version that increases by one on every write;
a write that names a stale version is refused (optimistic concurrency)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Caps that keep plans small enough for an LLM context (seed 000, pitfall 4).
MAX_KEY_EVENTS = 50
MAX_INTERACTION_SUMMARIES = 20


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompanyProfile(_Section):
    summary: str = ""
    industry: str | None = None
    employees: int | None = Field(default=None, ge=0)
    headquarters: str | None = None
    strategic_initiatives: list[str] = Field(default_factory=list)
    tech_stack: list[str] = Field(default_factory=list)


class KeyEvent(_Section):
    at: date
    summary: str


class RelationshipHistory(_Section):
    first_contact: date | None = None
    key_events: list[KeyEvent] = Field(default_factory=list, max_length=MAX_KEY_EVENTS)
    interaction_summaries: list[str] = Field(
        default_factory=list, max_length=MAX_INTERACTION_SUMMARIES
    )
    relationship_health: Literal["strong", "neutral", "at_risk", "unknown"] = "unknown"
    #: What the capped lists no longer hold, consolidated (seed 000, pitfall 4).
    earlier: str = ""
    interactions: int = 0


class StrategicPositioning(_Section):
    value_proposition: str = ""
    competitors: list[str] = Field(default_factory=list)
    differentiators: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    expansion_opportunities: list[str] = Field(default_factory=list)


class AccountPlanData(_Section):
    company_profile: CompanyProfile = Field(default_factory=CompanyProfile)
    relationship_history: RelationshipHistory = Field(default_factory=RelationshipHistory)
    strategic_positioning: StrategicPositioning = Field(default_factory=StrategicPositioning)
    active_deal_ids: list[UUID] = Field(default_factory=list)
    narrative: str = ""  # assembled offline or written by the LLM (cached)


class CoreDealInfo(_Section):
    summary: str = ""
    value: float | None = Field(default=None, ge=0)
    expected_close: date | None = None
    product_line: str | None = None
    compelling_event: str | None = None


class CriterionEvidence(_Section):
    """A verbatim quote backing a criterion: the activity it came from and its character span
    in that activity's text (``None`` for evidence recorded before PIE kept spans)."""

    quote: str
    activity_id: UUID | None = None
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)
    speaker: str | None = None
    side: str | None = None  # buyer | seller | unknown
    at: datetime | None = None


class Criterion(_Section):
    """One BANT or MEDDIC element: its value, the evidence for it and how sure we are."""

    status: Literal["unknown", "partial", "confirmed"] = "unknown"
    value: str | None = None
    evidence: list[CriterionEvidence] = Field(default_factory=list)
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    by_human: bool = False

    @field_validator("evidence", mode="before")
    @classmethod
    def _legacy_text(cls, value: object) -> object:
        """Plans written before evidence was typed hold a bare string (or null)."""
        if value is None:
            return []
        if isinstance(value, str):
            return [{"quote": value}]
        return value


class QualificationTracking(_Section):
    budget: Criterion = Field(default_factory=Criterion)
    authority: Criterion = Field(default_factory=Criterion)
    need: Criterion = Field(default_factory=Criterion)
    timeline: Criterion = Field(default_factory=Criterion)
    metrics: Criterion = Field(default_factory=Criterion)
    economic_buyer: Criterion = Field(default_factory=Criterion)
    decision_criteria: Criterion = Field(default_factory=Criterion)
    decision_process: Criterion = Field(default_factory=Criterion)
    identify_pain: Criterion = Field(default_factory=Criterion)
    champion: Criterion = Field(default_factory=Criterion)


class StakeholderSummary(_Section):
    contact_id: UUID
    name: str
    roles: list[str] = Field(default_factory=list)
    stance: Literal["supporter", "neutral", "opponent", "unknown"] = "unknown"


class ActionItem(_Section):
    description: str
    owner: str | None = None
    due: date | None = None
    done: bool = False


class OpportunityPlanData(_Section):
    core_deal: CoreDealInfo = Field(default_factory=CoreDealInfo)
    qualification_tracking: QualificationTracking = Field(default_factory=QualificationTracking)
    stakeholder_map: list[StakeholderSummary] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    #: Conversation summaries, newest last (capped; older ones fold into ``earlier``).
    interaction_summaries: list[str] = Field(
        default_factory=list, max_length=MAX_INTERACTION_SUMMARIES
    )
    earlier: str = ""
    narrative: str = ""  # assembled offline or written by the LLM (cached)


@dataclass(slots=True, kw_only=True)
class AccountPlan:
    id: UUID
    tenant_id: UUID
    account_id: UUID
    version: int
    data: AccountPlanData
    updated_at: datetime


@dataclass(slots=True, kw_only=True)
class OpportunityPlan:
    id: UUID
    tenant_id: UUID
    deal_id: UUID
    version: int
    data: OpportunityPlanData
    updated_at: datetime
