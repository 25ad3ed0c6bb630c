"""Back-tests: would the forecasts made at past cutoffs have been right?

At each cutoff the world is rebuilt as it was then (``pie.mining.snapshot.as_of``), every
forecaster is fitted on that world alone and forecasts every deal open at the cutoff; the
forecasts are then scored against what the rest of the data shows happened
(``outcomes_after``). Scores are pooled over all cutoffs and also given per cutoff.

A win probability is scored against "won within ``horizon_days`` of the cutoff" when a horizon
is given, else "won eventually". Deals still open at the end of the data are censored: they
are counted (``n_censored``) and scored only when their label is nonetheless known (with a
horizon, once the data covers the whole horizon); the rest are counted in
``n_censored_unscored``. Days to close are scored on the deals that closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import ALL_STAGES, Stage
from pie.mining import columns
from pie.mining.columns import DealColumns
from pie.mining.snapshot import OutcomeAfter, require_aware
from pie.simulation.calibration import CalibratedForecaster
from pie.simulation.forecaster import DealPrediction, Forecaster
from pie.simulation.metrics import (
    RELIABILITY_BINS,
    ReliabilityBin,
    brier_score,
    days_mae,
    expected_calibration_error,
    interval_coverage,
    log_loss,
    reliability_table,
    roc_auc,
)
from pie.simulation.streams import stream_identity
from pie.simulation.verdict import verdict

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredForecast:
    """One forecaster's forecast of one deal at one cutoff, with what happened."""

    cutoff: datetime
    prediction: DealPrediction
    outcome: OutcomeAfter
    stage: Stage | None = None  # the deal's stage at the cutoff


@dataclass(frozen=True, slots=True, kw_only=True)
class Scores:
    n_forecast: int
    n_scored: int  # forecasts whose win label is known
    n_censored: int  # deals still open at the end of the data
    n_censored_unscored: int  # of those, the ones whose label is unknown (not scored)
    n_closed: int  # deals that closed by the end of the data
    n_days_scored: int  # of those, the ones with finite forecast days: days are scored on these
    observed_win_rate: float | None
    mean_p_win: float | None
    brier: float | None
    log_loss: float | None
    ece: float | None
    auc: float | None
    reliability: tuple[ReliabilityBin, ...]
    days_mae: float | None
    interval80_coverage: float | None

    def to_dict(self) -> JsonDict:
        return {
            "n_forecast": self.n_forecast,
            "n_scored": self.n_scored,
            "n_censored": self.n_censored,
            "n_censored_unscored": self.n_censored_unscored,
            "n_closed": self.n_closed,
            "n_days_scored": self.n_days_scored,
            "observed_win_rate": self.observed_win_rate,
            "mean_p_win": self.mean_p_win,
            "brier": self.brier,
            "log_loss": self.log_loss,
            "ece": self.ece,
            "auc": self.auc,
            "reliability": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "count": b.count,
                    "mean_predicted": b.mean_predicted,
                    "observed_rate": b.observed_rate,
                }
                for b in self.reliability
            ],
            "days_mae": self.days_mae,
            "interval80_coverage": self.interval80_coverage,
        }


def score(forecasts: Sequence[ScoredForecast]) -> Scores:
    """Every back-test figure over ``forecasts``; a figure with nothing to score is None."""
    labelled = [f for f in forecasts if f.outcome.won is not None]
    closed = [f for f in forecasts if f.outcome.days_to_close is not None]
    timed = [f for f in closed if _has_days(f.prediction)]
    censored = [f for f in forecasts if f.outcome.censored]
    p = np.array([f.prediction.p_win for f in labelled], dtype=np.float64)
    y = np.array([1.0 if f.outcome.won else 0.0 for f in labelled], dtype=np.float64)
    some = bool(labelled)
    days = np.array([f.outcome.days_to_close for f in timed], dtype=np.float64)
    return Scores(
        n_forecast=len(forecasts),
        n_scored=len(labelled),
        n_censored=len(censored),
        n_censored_unscored=sum(1 for f in censored if f.outcome.won is None),
        n_closed=len(closed),
        n_days_scored=len(timed),
        observed_win_rate=float(y.mean()) if some else None,
        mean_p_win=float(p.mean()) if some else None,
        brier=brier_score(p, y) if some else None,
        log_loss=log_loss(p, y) if some else None,
        ece=expected_calibration_error(p, y) if some else None,
        auc=roc_auc(p, y) if some else None,
        reliability=tuple(reliability_table(p, y)) if some else _no_reliability(),
        days_mae=(days_mae([f.prediction.expected_days for f in timed], days) if timed else None),
        interval80_coverage=(
            interval_coverage(
                [f.prediction.days_p10 for f in timed],
                [f.prediction.days_p90 for f in timed],
                days,
            )
            if timed
            else None
        ),
    )


def _no_reliability() -> tuple[ReliabilityBin, ...]:
    return tuple(
        ReliabilityBin(
            lower=b / RELIABILITY_BINS,
            upper=(b + 1) / RELIABILITY_BINS,
            count=0,
            mean_predicted=None,
            observed_rate=None,
        )
        for b in range(RELIABILITY_BINS)
    )


def _has_days(p: DealPrediction) -> bool:
    return bool(np.isfinite([p.expected_days, p.days_p10, p.days_p90]).all())


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecasterResult:
    name: str
    pooled: Scores
    per_cutoff: tuple[tuple[datetime, Scores], ...]
    forecasts: tuple[ScoredForecast, ...]  # every forecast, cutoff by cutoff, deal order kept
    per_stage: tuple[tuple[Stage, Scores], ...] = ()  # by the deal's stage at the cutoff

    def verdict(self) -> str:
        """One line on calibration: "well calibrated", "over-confident by 6 points in early
        stages", ... (``verdict``)."""
        rows = [
            (f.stage, f.prediction.p_win, bool(f.outcome.won))
            for f in self.forecasts
            if f.outcome.won is not None
        ]
        return verdict(rows, self.pooled.ece)

    def to_dict(self) -> JsonDict:
        return {
            "name": self.name,
            **self.pooled.to_dict(),
            "verdict": self.verdict(),
            "per_cutoff": [
                {"cutoff": cutoff.isoformat(), **scores.to_dict()}
                for cutoff, scores in self.per_cutoff
            ],
            "per_stage": [
                {"stage": str(stage), **scores.to_dict()} for stage, scores in self.per_stage
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestReport:
    """What ``to_dict`` gives (every figure pooled over the cutoffs; None when undefined)::

    {"cutoffs": [iso, ...], "horizon_days": int | null, "data_end": iso, "model": name,
     "n_forecast", "n_scored", "n_censored", "n_censored_unscored", "n_closed",
     "n_days_scored", "observed_win_rate", "mean_p_win", "brier", "log_loss", "ece", "auc",
     "reliability": [{"lower", "upper", "count", "mean_predicted", "observed_rate"} x 10],
     "days_mae", "interval80_coverage", "verdict": one line on calibration,
     "per_cutoff": [{"cutoff": iso, ...the same figures for that cutoff}],
     "per_stage": [{"stage": name, ...the same figures for deals in that stage at cutoffs}],
     "baselines": {key: {"name": forecaster name, ...the same figures, "per_cutoff"}},
     "beats_baselines_on_brier": {key: bool}}
    """

    cutoffs: tuple[datetime, ...]
    horizon_days: int | None
    data_end: datetime
    model: ForecasterResult
    baselines: Mapping[str, ForecasterResult]
    #: the model's own forecasts before its calibration map, when it has one
    uncalibrated: ForecasterResult | None = None

    def beats_baselines_on_brier(self) -> dict[str, bool]:
        """For each baseline: is the model's pooled Brier score lower (better)?"""
        mine = self.model.pooled.brier
        return {
            name: mine is not None and other.pooled.brier is not None and mine < other.pooled.brier
            for name, other in self.baselines.items()
        }

    def to_dict(self) -> JsonDict:
        """The model's pooled figures at the top level, each baseline's under ``baselines``."""
        return {
            "cutoffs": [c.isoformat() for c in self.cutoffs],
            "horizon_days": self.horizon_days,
            "data_end": self.data_end.isoformat(),
            "model": self.model.name,
            **{k: v for k, v in self.model.to_dict().items() if k != "name"},
            "baselines": {name: r.to_dict() for name, r in self.baselines.items()},
            "beats_baselines_on_brier": self.beats_baselines_on_brier(),
            "uncalibrated": self.uncalibrated.to_dict() if self.uncalibrated else None,
        }


def as_columns(deals: DealColumns | Sequence[DealHistory]) -> DealColumns:
    """Deal histories as columns (event logs and tests hand in objects)."""
    if isinstance(deals, DealColumns):
        return deals
    return columns.from_histories(deals, identity=stream_identity)


def run_backtest(
    deals: DealColumns | Sequence[DealHistory],
    *,
    cutoffs: Sequence[datetime],
    horizon_days: int | None,
    model: Forecaster,
    baselines: Mapping[str, Forecaster],
) -> BacktestReport:
    """Fit and score ``model`` and every baseline at each cutoff, pooled over the cutoffs.
    The deals are read once; each cutoff's world and outcomes are cut from the same columns."""
    cols = as_columns(deals)
    end = _check(cols, cutoffs, horizon_days)
    forecasters: list[tuple[str | None, Forecaster]] = [(None, model), *baselines.items()]
    collected: dict[str | None, list[tuple[datetime, list[ScoredForecast]]]] = {
        key: [] for key, _ in forecasters
    }
    raw: list[tuple[datetime, list[ScoredForecast]]] = []
    for cutoff in cutoffs:
        scored, uncalibrated = _at_cutoff(cols, cutoff, horizon_days, end, forecasters)
        for key, paired in scored.items():
            collected[key].append((cutoff, paired))
        if uncalibrated is not None:
            raw.append((cutoff, uncalibrated))
    return BacktestReport(
        cutoffs=tuple(cutoffs),
        horizon_days=horizon_days,
        data_end=end,
        model=_result(model.name, collected[None]),
        baselines={
            key: _result(forecaster.name, collected[key])
            for key, forecaster in forecasters
            if key is not None
        },
        uncalibrated=_result(model.name, raw) if raw else None,
    )


def _at_cutoff(
    cols: DealColumns,
    cutoff: datetime,
    horizon_days: int | None,
    end: datetime,
    forecasters: Sequence[tuple[str | None, Forecaster]],
) -> tuple[dict[str | None, list[ScoredForecast]], list[ScoredForecast] | None]:
    """Each forecaster's scored forecasts at ``cutoff`` (key None: the model), and the
    model's before its calibration map when it has one. The cutoff's world lives only in
    here: one cutoff's copy of the columns in memory at a time."""
    world = columns.snapshot(cols, cutoff)
    open_deals = world.take(world.is_open())
    outcomes = columns.outcomes_after(cols, cutoff, horizon_days, end=end)
    stages = dict(
        zip(open_deals.deal_ids(), columns.stage_names(open_deals.stage.tolist()), strict=True)
    )
    scored: dict[str | None, list[ScoredForecast]] = {}
    raw = None
    for key, forecaster in forecasters:
        forecaster.fit(world, as_of=cutoff)
        predictions = forecaster.predict(open_deals, as_of=cutoff, horizon_days=horizon_days)
        scored[key] = _pair_up(forecaster.name, predictions, outcomes, stages)
        if key is None and isinstance(forecaster, CalibratedForecaster):
            raw = _pair_up(forecaster.name, forecaster.raw, outcomes, stages)
    return scored, raw


def _check(cols: DealColumns, cutoffs: Sequence[datetime], horizon_days: int | None) -> datetime:
    """The end of the data, once the request is known to make sense."""
    end = columns.data_end(cols)
    start = columns.first_created(cols)
    if end is None or start is None:
        raise InvalidInput("there are no deals to back-test: import or generate some first")
    if not cutoffs:
        raise InvalidInput("give at least one cutoff to back-test at", field="cutoffs")
    if horizon_days is not None and horizon_days <= 0:
        raise InvalidInput(
            f"horizon_days must be a positive number of days, not {horizon_days}",
            field="horizon_days",
        )
    for cutoff in cutoffs:
        require_aware(cutoff, "cutoff")
        if not start < cutoff <= end:
            where = "before the first deal" if cutoff <= start else "after the last event"
            raise InvalidInput(
                f"cutoff {cutoff.isoformat()} is {where}: choose cutoffs after "
                f"{start.isoformat()} (the first deal's creation) and no later than "
                f"{end.isoformat()} (the last event), leaving time after them for "
                "outcomes to show",
                field="cutoffs",
            )
    return end


def _pair_up(
    name: str,
    predictions: Sequence[DealPrediction],
    outcomes: Sequence[OutcomeAfter],
    stages: Mapping[UUID, Stage],
) -> list[ScoredForecast]:
    by_deal = {p.deal_id: p for p in predictions}
    if len(predictions) != len(outcomes) or any(o.deal_id not in by_deal for o in outcomes):
        raise ValueError(
            f"forecaster {name!r} returned {len(predictions)} forecasts for "
            f"{len(outcomes)} open deals, or forecast other deals than it was given"
        )
    return [
        ScoredForecast(
            cutoff=o.cutoff, prediction=by_deal[o.deal_id], outcome=o, stage=stages.get(o.deal_id)
        )
        for o in outcomes
    ]


def _result(name: str, rows: Sequence[tuple[datetime, list[ScoredForecast]]]) -> ForecasterResult:
    every = tuple(f for _, forecasts in rows for f in forecasts)
    return ForecasterResult(
        name=name,
        pooled=score(every),
        per_cutoff=tuple((cutoff, score(forecasts)) for cutoff, forecasts in rows),
        forecasts=every,
        per_stage=tuple(
            (stage, score([f for f in every if f.stage is stage]))
            for stage in ALL_STAGES
            if any(f.stage is stage for f in every)
        ),
    )
