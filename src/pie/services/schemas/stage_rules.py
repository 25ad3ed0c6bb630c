"""Stage progression settings and the stall check as JSON: what `pie deals stage-rules --json`
and `pie deals stall-check --json` print, and what `GET/PUT /api/stage-rules` and
`POST /api/deals/stall-check` speak."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from pie.domain.intelligence import SignalKind
from pie.domain.progression import (
    DEFAULT_STALLED_AFTER_DAYS,
    FIELD_SIGNALS,
    ProgressionSettings,
    StageRequirements,
)
from pie.domain.stages import Stage
from pie.services.progression import StallReport

#: The stages requirements can be set for (lead is where every deal starts; closed and stalled
#: stages are never reached by evidence).
StageName = Literal["qualification", "discovery", "demo", "proposal", "negotiation"]
#: What a requirement can ask for: a qualification field with evidence (``budget_identified``)
#: or a detected opportunity signal (``budget_mention``).
SIGNAL_NAMES: tuple[str, ...] = (
    *sorted(set(FIELD_SIGNALS.values())),
    *(k.value for k in SignalKind),
)
SignalName = Literal[
    "authority_identified",
    "budget_identified",
    "champion_identified",
    "decision_criteria_identified",
    "decision_process_identified",
    "economic_buyer_identified",
    "metrics_identified",
    "need_identified",
    "pain_identified",
    "timeline_identified",
    "budget_mention",
    "product_interest",
    "timeline_urgency",
    "quantified_pain",
    "buying_process",
    "competitive_evaluation",
]
MAX_STALLED_AFTER_DAYS = 3650


class StageRequirementsModel(BaseModel):
    """What a deal needs to be in a stage (on top of every earlier stage's requirements)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # no `true` for a number

    min_bant_completion: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of BANT fields with evidence (0-1)"
    )
    min_meddic_completion: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of MEDDIC fields with evidence (0-1)"
    )
    min_interactions: int = Field(default=0, ge=0, le=10_000, description="Conversations")
    required_signals: list[SignalName] = Field(
        default_factory=list,
        max_length=len(SIGNAL_NAMES),
        description="Fields with evidence (budget_identified, ...) or detected signals "
        "(budget_mention, ...) the deal must have",
    )

    @classmethod
    def of(cls, r: StageRequirements) -> StageRequirementsModel:
        return cls.model_validate(r.to_json())

    def to_domain(self) -> StageRequirements:
        return StageRequirements(
            min_bant_completion=self.min_bant_completion,
            min_meddic_completion=self.min_meddic_completion,
            min_interactions=self.min_interactions,
            required_signals=tuple(dict.fromkeys(self.required_signals)),
        )


class StageRulesBody(BaseModel):
    """A tenant's stage requirements and stalled-after days. Stages not named keep the default
    (seed 000's table); the whole document replaces what was set before."""

    model_config = ConfigDict(extra="forbid", strict=True)

    stage_requirements: dict[StageName, StageRequirementsModel] = Field(default_factory=dict)
    stalled_after_days: int = Field(
        default=DEFAULT_STALLED_AFTER_DAYS,
        ge=1,
        le=MAX_STALLED_AFTER_DAYS,
        description="An open deal with no activity for this many days becomes stalled",
    )

    def to_domain(self) -> ProgressionSettings:
        base = ProgressionSettings()
        reqs = dict(base.requirements)
        for name, r in self.stage_requirements.items():
            reqs[Stage(name)] = r.to_domain()
        return ProgressionSettings(requirements=reqs, stalled_after_days=self.stalled_after_days)


class StageRulesRead(BaseModel):
    """The requirements in force for every stage, and the stalled-after days."""

    model_config = ConfigDict(extra="forbid")

    stage_requirements: dict[StageName, StageRequirementsModel]
    stalled_after_days: int

    @classmethod
    def of(cls, s: ProgressionSettings) -> StageRulesRead:
        order = [st for st in Stage if st in s.requirements]
        return cls(
            stage_requirements={
                str(st): StageRequirementsModel.of(s.requirements[st]) for st in order
            },
            stalled_after_days=s.stalled_after_days,
        )


class StalledDealRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: UUID
    name: str
    from_stage: str = Field(description="The stage it was in (where new activity revives it)")
    last_activity: datetime | None = Field(description="None: no activity since it was created")


class KeptDealRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: UUID
    name: str
    stage: str
    stage_owner: str | None = Field(description="Who set the stage (a person, a CRM)")
    last_activity: datetime | None


class StallReportRead(BaseModel):
    """One stall check: the deals it stalled and the quiet ones it left because a person (or a
    CRM that owns the stage) set their stage."""

    model_config = ConfigDict(extra="forbid")

    checked_at: datetime
    stalled_after_days: int
    open_deals: int = Field(description="Open deals checked")
    stalled: list[StalledDealRead]
    kept: list[KeptDealRead]

    @classmethod
    def of(cls, r: StallReport) -> StallReportRead:
        return cls(
            checked_at=r.checked_at,
            stalled_after_days=r.stalled_after_days,
            open_deals=r.open_deals,
            stalled=[
                StalledDealRead(
                    deal_id=d.deal_id,
                    name=d.name,
                    from_stage=str(d.stage),
                    last_activity=d.last_activity,
                )
                for d in r.stalled
            ],
            kept=[
                KeptDealRead(
                    deal_id=d.deal_id,
                    name=d.name,
                    stage=str(d.stage),
                    stage_owner=d.stage_owner,
                    last_activity=d.last_activity,
                )
                for d in r.kept
            ],
        )


def read_stage_rules(document: object, *, source: str) -> StageRulesBody:
    """``document`` (parsed JSON) as settings; what is wrong named by its field."""
    from pydantic import ValidationError

    from pie.domain.errors import InvalidInput

    try:
        return StageRulesBody.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(first["msg"], source=source, field=where) from None
