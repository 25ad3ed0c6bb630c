"""The calibration map: fitted on earlier cutoffs only, used only where it helps, and it
repairs a forecaster that is systematically over-confident."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pytest

from pie.domain.history import DealHistory
from pie.mining.columns import DealColumns
from pie.simulation.backtest import run_backtest
from pie.simulation.calibration import (
    CalibratedForecaster,
    CalibrationMap,
    cross_validated_map,
)
from pie.simulation.forecaster import DealPrediction, MarkovForecaster
from tests.helpers_world import day, random_world, rewrite_after

CUTOFFS = (day(380), day(430), day(480))


class Inflated:
    """PIE's model with every forecast pushed towards 1: P' = P ** 0.4 (over-confident)."""

    name = "inflated"

    def __init__(self) -> None:
        self.inner = MarkovForecaster(runs=400)

    def fit(self, world: DealColumns, *, as_of: datetime) -> None:
        self.inner.fit(world, as_of=as_of)

    def predict(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        out = self.inner.predict(open_deals, as_of=as_of, horizon_days=horizon_days)
        return [dataclasses.replace(p, p_win=p.p_win**0.4) for p in out]


@pytest.fixture(scope="module")
def world() -> list[DealHistory]:
    return random_world(1500, seed=5)


def test_the_map_repairs_an_over_confident_forecaster(world: list[DealHistory]) -> None:
    model = CalibratedForecaster(Inflated, horizon_days=60)
    report = run_backtest(world, cutoffs=CUTOFFS, horizon_days=60, model=model, baselines={})
    before, after = report.uncalibrated, report.model
    assert before is not None and before.pooled.brier and after.pooled.brier
    assert before.verdict().startswith("over-confident")
    assert after.pooled.brier < before.pooled.brier - 0.01
    assert after.pooled.ece is not None and before.pooled.ece is not None
    assert after.pooled.ece < before.pooled.ece / 2
    assert report.to_dict()["uncalibrated"]["brier"] == before.pooled.brier


def test_the_map_never_sees_the_cutoff_it_scores(world: list[DealHistory]) -> None:
    cutoff = CUTOFFS[1]
    rewritten = [rewrite_after(h, cutoff, n) for n, h in enumerate(world)]
    a, b = (
        run_backtest(
            w,
            cutoffs=[cutoff],
            horizon_days=60,
            model=CalibratedForecaster(Inflated, horizon_days=60),
            baselines={},
        )
        for w in (world, rewritten)
    )
    assert [f.prediction for f in a.model.forecasts] == [f.prediction for f in b.model.forecasts]
    assert a.model.pooled.brier != b.model.pooled.brier


def test_a_map_that_does_not_help_out_of_sample_is_not_used() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 3000)
    y = (rng.random(3000) < p).astype(np.float64)  # already calibrated
    groups = rng.integers(0, 3, 3000)
    folds = np.arange(3000) % 3
    assert cross_validated_map(p, y, groups, folds).is_identity
    skewed = cross_validated_map(p**0.4, y, groups, folds)
    assert not skewed.is_identity
    assert CalibrationMap().apply(np.array([0.0, 0.3, 1.0]), np.zeros(3, np.intp)).tolist() == [
        0.0,
        pytest.approx(0.3),
        1.0,
    ]
