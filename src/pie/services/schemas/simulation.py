"""Simulations, deal forecasts and pipeline forecasts as typed JSON shapes.

Figures the simulation could not estimate (no simulated run closed, so no days to close) are
``null``, never NaN. Intervals are ``[low, high]`` at the stated ``confidence`` (95%).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from pie.simulation import DealForecast, DealSimulation, PeriodForecast, ScenarioResult
from pie.simulation.scenarios import Arm

CONFIDENCE = 0.95

Interval = tuple[float, float]
#: An interval of days; null ends when no simulated run closed.
DaysInterval = tuple[float | None, float | None]


def finite(x: float) -> float | None:
    """``x``, or None when it is NaN or infinite (JSON has neither)."""
    return float(x) if math.isfinite(x) else None


def _days_interval(ci: tuple[float, float]) -> DaysInterval:
    return finite(ci[0]), finite(ci[1])


class DealSimulationRead(BaseModel):
    """One deal's simulated outcome from ``as_of``."""

    deal_id: UUID
    as_of: datetime
    runs: int
    p_win: float = Field(description="Share of runs the deal is won")
    p_win_ci: Interval
    expected_days: float | None = Field(description="Mean days from as_of to the close")
    expected_days_ci: DaysInterval
    days_p10_p50_p90: tuple[float | None, float | None, float | None]
    expected_value: float = Field(description="Value x P(win)")
    expected_value_ci: Interval
    won_value_p10_p50_p90: tuple[float, float, float]
    confidence: float = CONFIDENCE

    @classmethod
    def of(cls, s: DealSimulation, *, as_of: datetime) -> DealSimulationRead:
        d10, d50, d90 = s.days_quantiles
        v10, v50, v90 = s.value_quantiles
        return cls(
            deal_id=s.deal_id,
            as_of=as_of,
            runs=s.runs,
            p_win=s.p_win,
            p_win_ci=s.p_win_ci,
            expected_days=finite(s.expected_days),
            expected_days_ci=_days_interval(s.expected_days_ci),
            days_p10_p50_p90=(finite(d10), finite(d50), finite(d90)),
            expected_value=s.expected_value,
            expected_value_ci=s.expected_value_ci,
            won_value_p10_p50_p90=(v10, v50, v90),
        )


class ArmBrief(BaseModel):
    """P(win) and mean days to close of one arm of a comparison (or their difference)."""

    p_win: float
    days: float | None

    @classmethod
    def of(cls, arm: Arm) -> ArmBrief:
        return cls(p_win=round(arm.p_win, 4), days=finite(round(arm.days, 1)))


class ArmIntervals(BaseModel):
    p_win: Interval
    days: DaysInterval

    @classmethod
    def of(cls, arm: Arm) -> ArmIntervals:
        return cls(p_win=arm.p_win_ci, days=_days_interval(arm.days_ci))


class ScenarioIntervals(BaseModel):
    baseline: ArmIntervals
    modified: ArmIntervals
    delta: ArmIntervals


class ScenarioResultRead(BaseModel):
    """Baseline against the scenario for one deal, with common random numbers; the delta's
    intervals are over the paired runs."""

    deal_id: UUID
    as_of: datetime
    scenario: str = Field(examples=["add_champion"])
    runs: int
    baseline: ArmBrief
    modified: ArmBrief
    delta: ArmBrief
    confidence: float
    intervals: ScenarioIntervals

    @classmethod
    def of(cls, r: ScenarioResult, *, deal_id: UUID, as_of: datetime) -> ScenarioResultRead:
        return cls(
            deal_id=deal_id,
            as_of=as_of,
            scenario=r.scenario,
            runs=r.runs,
            baseline=ArmBrief.of(r.baseline),
            modified=ArmBrief.of(r.modified),
            delta=ArmBrief.of(r.delta),
            confidence=r.confidence,
            intervals=ScenarioIntervals(
                baseline=ArmIntervals.of(r.baseline),
                modified=ArmIntervals.of(r.modified),
                delta=ArmIntervals.of(r.delta),
            ),
        )


class TrajectoryRead(BaseModel):
    name: str = Field(examples=["current_trajectory", "best_case", "worst_case"])
    p_win: float
    days: float | None
    p_win_ci: Interval
    days_ci: DaysInterval
    changes: list[str] = Field(
        default_factory=list, description="The feasible changes this case assumes (none: as is)"
    )


class RecommendationRead(BaseModel):
    action: str = Field(examples=["Identify a champion"])
    impact: str = Field(examples=["+12 points win rate, -9 days cycle time"])
    scenario: str
    delta: ArmBrief
    delta_ci: ArmIntervals
    evidence_count: int = Field(
        description="Closed deals (or stage visits, for timing) the effect is estimated from"
    )


class DealForecastRead(BaseModel):
    """A deal's trajectories (current, best and worst case) and the recommendations, ranked by
    their simulated impact."""

    deal_id: UUID
    as_of: datetime
    runs: int
    scenarios: list[TrajectoryRead]
    recommendations: list[RecommendationRead]
    notes: list[str] = Field(
        default_factory=list, description="Why a change was not recommended (no evidence, ...)"
    )

    @classmethod
    def of(cls, f: DealForecast, *, deal_id: UUID, as_of: datetime, runs: int) -> DealForecastRead:
        return cls(
            deal_id=deal_id,
            as_of=as_of,
            runs=runs,
            scenarios=[
                TrajectoryRead(
                    name=t.name,
                    p_win=round(t.p_win, 4),
                    days=finite(round(t.days, 1)),
                    p_win_ci=t.p_win_ci,
                    days_ci=_days_interval(t.days_ci),
                    changes=list(t.changes),
                )
                for t in f.scenarios
            ],
            recommendations=[
                RecommendationRead(
                    action=r.action,
                    impact=r.impact,
                    scenario=r.scenario,
                    delta=ArmBrief.of(r.result.delta),
                    delta_ci=ArmIntervals.of(r.result.delta),
                    evidence_count=r.evidence_count,
                )
                for r in f.recommendations
            ],
            notes=list(f.notes),
        )


class PeriodForecastRead(BaseModel):
    """Won value in one period across every open deal."""

    period: str = Field(examples=["2026Q1"])
    start: date
    end: date = Field(description="Last day, inclusive")
    open_deals: int
    expected_wins: float
    expected_value: float
    p10: float
    p50: float
    p90: float

    @classmethod
    def of(cls, f: PeriodForecast) -> PeriodForecastRead:
        return cls(
            period=f.period.label,
            start=f.period.start,
            end=f.period.end,
            open_deals=f.open_deals,
            expected_wins=f.expected_wins,
            expected_value=f.expected_value,
            p10=f.p10,
            p50=f.p50,
            p90=f.p90,
        )


class DealInPeriodRead(BaseModel):
    period: str
    p_win: float = Field(description="P(the deal is won with a close date in the period)")
    expected_value: float = Field(description="Value x P(won in the period)")


class OpenDealForecastRead(BaseModel):
    """One open deal in the pipeline forecast."""

    deal_id: UUID
    ref: str = Field(description="SOURCE:EXTERNAL_ID, or the PIE id when it has no source id")
    name: str
    stage: str
    value: float = Field(description="The value the simulation used (as known at as_of)")
    p_win: float = Field(description="P(won at all)")
    expected_close: date | None = Field(
        description="Median simulated close date of the runs it is won; null if never won"
    )
    expected_value: float = Field(description="Value x P(win)")
    periods: list[DealInPeriodRead]


class PipelineForecastRead(BaseModel):
    """Won value per period over every open deal; with ``deals``, every open deal's P(win),
    expected close and expected value, sorted by its expected value in the first period."""

    as_of: datetime
    runs: int
    periods: list[PeriodForecastRead]
    deals: list[OpenDealForecastRead] | None = Field(
        default=None, description="Every open deal, when asked for (deals=true, --deals)"
    )
