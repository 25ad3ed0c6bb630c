"""Back-test results as typed JSON shapes: the model's pooled scores at the top level, per
cutoff, and each baseline's. A figure with nothing to score is ``null``."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from pie.simulation.backtest import BacktestReport, ForecasterResult, Scores


class ReliabilityBinRead(BaseModel):
    """Forecasts with ``lower <= p < upper`` (the last bin includes 1.0)."""

    model_config = ConfigDict(from_attributes=True)

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    observed_rate: float | None


class ScoresRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    n_forecast: int
    n_scored: int = Field(description="Forecasts whose win label is known")
    n_censored: int = Field(description="Deals still open at the end of the data")
    n_censored_unscored: int = Field(description="Censored deals whose label is unknown")
    n_closed: int
    n_days_scored: int
    observed_win_rate: float | None
    mean_p_win: float | None
    brier: float | None
    log_loss: float | None
    ece: float | None
    auc: float | None
    reliability: list[ReliabilityBinRead]
    days_mae: float | None
    interval80_coverage: float | None

    @classmethod
    def scores(cls, s: Scores, **extra: object) -> Self:
        return cls.model_validate({**ScoresRead.model_validate(s).model_dump(), **extra})


class CutoffScoresRead(ScoresRead):
    cutoff: datetime


class StageScoresRead(ScoresRead):
    stage: str = Field(description="The deals' stage at the cutoff")


class ForecasterScoresRead(ScoresRead):
    name: str
    verdict: str = Field(description="Calibration in one line a sales leader can read")
    per_cutoff: list[CutoffScoresRead]
    per_stage: list[StageScoresRead]

    @classmethod
    def of(cls, r: ForecasterResult) -> ForecasterScoresRead:
        return cls.scores(
            r.pooled,
            name=r.name,
            verdict=r.verdict(),
            per_cutoff=_per_cutoff(r),
            per_stage=_per_stage(r),
        )


def _per_cutoff(r: ForecasterResult) -> list[CutoffScoresRead]:
    return [CutoffScoresRead.scores(s, cutoff=cutoff) for cutoff, s in r.per_cutoff]


def _per_stage(r: ForecasterResult) -> list[StageScoresRead]:
    return [StageScoresRead.scores(s, stage=str(stage)) for stage, s in r.per_stage]


class BacktestRead(ScoresRead):
    """The model's figures pooled over the cutoffs, with each baseline's under ``baselines``."""

    cutoffs: list[datetime]
    horizon_days: int | None
    data_end: datetime
    model: str
    verdict: str = Field(description="Calibration in one line a sales leader can read")
    per_cutoff: list[CutoffScoresRead]
    per_stage: list[StageScoresRead]
    baselines: dict[str, ForecasterScoresRead]
    beats_baselines_on_brier: dict[str, bool]
    uncalibrated: ForecasterScoresRead | None = Field(
        default=None,
        description="The model's figures before the calibration map (fitted on earlier cutoffs "
        "only); null when no map was applied",
    )

    @classmethod
    def of(cls, report: BacktestReport) -> BacktestRead:
        return cls.scores(
            report.model.pooled,
            cutoffs=list(report.cutoffs),
            horizon_days=report.horizon_days,
            data_end=report.data_end,
            model=report.model.name,
            verdict=report.model.verdict(),
            per_cutoff=_per_cutoff(report.model),
            per_stage=_per_stage(report.model),
            baselines={k: ForecasterScoresRead.of(r) for k, r in report.baselines.items()},
            beats_baselines_on_brier=report.beats_baselines_on_brier(),
            uncalibrated=(
                ForecasterScoresRead.of(report.uncalibrated) if report.uncalibrated else None
            ),
        )
