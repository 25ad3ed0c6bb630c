"""The mined stage process as a typed JSON shape: the transition table, time in stage, the
context effects and whether the data suffices for them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SufficiencyRead(BaseModel):
    level: str = Field(description="full, stage (no context effects) or defaults (no history)")
    won: int
    lost: int
    message: str


class TransitionRead(BaseModel):
    """Observed moves from one stage to the next."""

    from_stage: str
    to_stage: str
    count: int
    share: float = Field(description="Share of the exits of from_stage that went to to_stage")
    median_days: float = Field(description="Median days in from_stage before this move")


class StageEffectRead(BaseModel):
    """Time in an open stage and the odds of advancing, for a neutral deal, with a champion and
    with an unresolved blocker (mined, per stage visit)."""

    stage: str
    advance_to: str
    exits: int
    mean_dwell_days: float | None
    p_advance: float
    p_advance_with_champion: float | None = Field(
        description="null when the data does not show a champion effect (too few deals with "
        "and without one, or an interval that includes no effect)"
    )
    p_advance_with_blocker: float | None = Field(
        description="null when the data does not show a blocker effect"
    )


class EvidenceRead(BaseModel):
    """Whether the data shows a factor's effect on winning: closed deals with and without it
    (at least ``minimum`` each) and the odds ratio of winning with its 95% interval."""

    factor: str
    with_deals: int
    without_deals: int
    minimum: int
    odds_ratio: float | None
    odds_ratio_ci: tuple[float, float] | None
    supported: bool = Field(description="Enough deals, and the interval excludes no effect")
    message: str


class ProcessRead(BaseModel):
    """The stage process mined from the tenant's deals as of ``as_of``."""

    as_of: datetime
    deals: int
    sufficiency: SufficiencyRead
    icp_industries: list[str]
    transitions: list[TransitionRead] = Field(description="Most frequent first")
    stages: list[StageEffectRead] = Field(description="Open stages that occur in the data")
    evidence: list[EvidenceRead] = Field(default_factory=list)
