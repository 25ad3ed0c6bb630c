"""A calibration map for win probabilities, fitted on the tenant's own past, never on the
cutoff being scored.

``CalibratedForecaster`` wraps a forecaster. Fitted at ``as_of``, it also back-tests the inner
model at ``PAST_CUTOFFS`` earlier cutoffs inside what was known at ``as_of`` (each at least the
horizon, or ``LABEL_DAYS``, before it, so most outcomes are known by then), and fits a logistic
recalibration on those forecasts and outcomes: per stage group (early, late, stalled),
``P' = sigmoid(a + b logit(P))``, pulled towards the identity (a=0, b=1) by ``PRIOR_WEIGHT``
forecasts' worth of ridge penalty, so little data changes little.

The map is used only where it is shown to help: leaving each past cutoff out in turn, a map
fitted on the others must lower the squared error of the forecasts of the one left out, by
more than two standard errors of the mean gain over all of them; otherwise (and with fewer
than ``MIN_FORECASTS`` scored past forecasts) the probabilities stay as the model gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.stages import ALL_STAGES
from pie.mining import columns
from pie.mining.calibration_map import GROUPS, CalibrationMap, group_of
from pie.mining.calibration_map import logit as _logit
from pie.mining.columns import DealColumns
from pie.mining.config import DEFAULT_CONFIG, MiningConfig

from .forecaster import DealPrediction, Forecaster, MarkovForecaster, win_probabilities

__all__ = ["CalibratedForecaster", "CalibrationMap", "fit_calibration", "group_of"]

Float = NDArray[np.float64]
PAST_CUTOFFS = 3
SPACING_DAYS = 30
LABEL_DAYS = 90  # without a horizon: how far back the latest past cutoff lies
MIN_FORECASTS = 60
PRIOR_WEIGHT = 30.0
MIN_SLOPE = 0.05
#: runs per deal of the past forecasts a tenant's stored map is fitted on (fewer than a
#: forecast's: their noise is small next to the spread of P(win) across deals)
MAP_RUNS = 500


def cross_validated_map(
    p: Float, y: Float, groups: NDArray[np.intp], folds: NDArray[np.intp]
) -> CalibrationMap:
    """``fit_map`` on every row if leave-one-fold-out shows it lowers the Brier score."""
    if p.size < MIN_FORECASTS or np.unique(folds).size < 2:
        return CalibrationMap(n=int(p.size))
    gain = np.zeros(p.size)  # per forecast: squared error without the map minus with it
    for k in np.unique(folds):
        out = folds == k
        fitted = fit_map(p[~out], y[~out], groups[~out])
        mapped = fitted.apply(p[out], groups[out])
        gain[out] = (p[out] - y[out]) ** 2 - (mapped - y[out]) ** 2
    helps = gain.mean() > 2.0 * gain.std(ddof=1) / np.sqrt(gain.size)
    return fit_map(p, y, groups) if helps else CalibrationMap(n=int(p.size))


def fit_map(p: Float, y: Float, groups: NDArray[np.intp]) -> CalibrationMap:
    """Ridge-penalised logistic recalibration per group (Newton steps)."""
    if p.size < MIN_FORECASTS // 2:
        return CalibrationMap(n=int(p.size))
    coefs = []
    for g in range(len(GROUPS)):
        sel = groups == g
        coefs.append(_ridge_logistic(_logit(p[sel]), y[sel]))
    return CalibrationMap(tuple(coefs), int(p.size))


def _ridge_logistic(x: Float, y: Float) -> tuple[float, float]:
    prior = np.array([0.0, 1.0])
    theta = prior.copy()
    if x.size == 0:
        return 0.0, 1.0
    design = np.stack([np.ones_like(x), x], axis=1)
    scale = np.array([1.0, max(float(np.mean(x * x)), 1.0)])  # penalty in forecast units
    penalty = PRIOR_WEIGHT * 0.25 * np.diag(scale)
    for _ in range(25):
        q = 1.0 / (1.0 + np.exp(-(design @ theta)))
        grad = design.T @ (q - y) + penalty @ (theta - prior)
        hess = design.T @ (design * (q * (1 - q))[:, None]) + penalty
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.abs(step).max() < 1e-8:
            break
    return float(theta[0]), max(float(theta[1]), MIN_SLOPE)  # the map keeps the order


def fit_calibration(
    world: DealColumns,
    *,
    as_of: datetime,
    config: MiningConfig = DEFAULT_CONFIG,
    runs: int = MAP_RUNS,
    seed: int = 0,
) -> CalibrationMap:
    """The map for P(win) at all (no horizon) to store with the model fitted at ``as_of``."""
    return past_map(world, as_of, None, lambda: MarkovForecaster(config, runs, seed))


#: the calibration map's stage group of each stage code
_GROUP = np.array([group_of(s) for s in ALL_STAGES], dtype=np.intp)


def _groups(cols: DealColumns) -> NDArray[np.intp]:
    out: NDArray[np.intp] = _GROUP[cols.stage]
    return out


def past_map(
    world: DealColumns,
    as_of: datetime,
    horizon_days: int | None,
    make: Callable[[], Forecaster],
) -> CalibrationMap:
    """Back-test ``make()`` at ``PAST_CUTOFFS`` cutoffs before ``as_of`` on what was known at
    ``as_of`` and fit the cross-validated map on its forecasts (identity if it does not
    help)."""
    lag = timedelta(days=horizon_days or LABEL_DAYS)
    found = [
        _past_forecasts(
            world, as_of, as_of - lag - timedelta(days=SPACING_DAYS * k), horizon_days, make
        )
        for k in range(PAST_CUTOFFS)
    ]
    folds = [np.full(p.size, k, dtype=np.intp) for k, (p, _, _) in enumerate(found)]
    return cross_validated_map(
        np.concatenate([p for p, _, _ in found]),
        np.concatenate([y for _, y, _ in found]),
        np.concatenate([g for _, _, g in found]),
        np.concatenate(folds),
    )


def _past_forecasts(
    world: DealColumns,
    as_of: datetime,
    cutoff: datetime,
    horizon_days: int | None,
    make: Callable[[], Forecaster],
) -> tuple[Float, Float, NDArray[np.intp]]:
    """P(win), won (1.0 or 0.0) and stage group of each deal open at ``cutoff`` whose outcome
    is known by ``as_of`` (in the columns' order), forecast by ``make()`` fitted at
    ``cutoff``; none where it cannot be fitted. The cutoff's columns are dropped once fitted
    (one cutoff's copy in memory at a time)."""
    none = (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.intp))
    past = columns.snapshot(world, cutoff)
    is_open = past.is_open()
    if not is_open.any() or is_open.all():
        return none
    inner = make()
    try:
        inner.fit(past, as_of=cutoff)
    except InvalidInput:
        return none  # e.g. nothing closed yet to learn from
    open_deals = past.take(is_open)
    del past
    p = win_probabilities(inner, open_deals, as_of=cutoff, horizon_days=horizon_days)
    row_of = {key: i for i, key in enumerate(open_deals.id_keys())}
    ended = columns.outcome_arrays(world, cutoff, horizon_days, end=as_of)
    known = ~np.isnan(ended.won)
    keys = world.id_keys(ended.rows[known])
    at = np.array([row_of.get(k, -1) for k in keys], dtype=np.intp)
    forecast = at >= 0
    at = at[forecast]
    return p[at], ended.won[known][forecast], _GROUP[open_deals.stage[at]]


@dataclass
class CalibratedForecaster:
    """``make()`` builds the inner forecaster (a fresh one for each past cutoff)."""

    make: Callable[[], Forecaster]
    horizon_days: int | None = None
    name: str = "pie"
    map: CalibrationMap = field(default_factory=CalibrationMap)
    raw: list[DealPrediction] = field(default_factory=list)  # the last uncalibrated forecasts
    _inner: Forecaster | None = None

    def fit(self, world: DealColumns, *, as_of: datetime) -> None:
        self._inner = self.make()
        self._inner.fit(world, as_of=as_of)
        self.map = self._fit_map(world, as_of)

    def _fit_map(self, world: DealColumns, as_of: datetime) -> CalibrationMap:
        return past_map(world, as_of, self.horizon_days, self.make)

    def predict(
        self, open_deals: DealColumns, *, as_of: datetime, horizon_days: int | None
    ) -> list[DealPrediction]:
        if self._inner is None:
            raise RuntimeError("fit() before predict()")
        self.raw = self._inner.predict(open_deals, as_of=as_of, horizon_days=horizon_days)
        groups = _groups(open_deals)
        p = self.map.apply(np.array([r.p_win for r in self.raw]), groups)
        return [
            DealPrediction(r.deal_id, float(q), r.expected_days, r.days_p10, r.days_p90)
            for r, q in zip(self.raw, p, strict=True)
        ]
