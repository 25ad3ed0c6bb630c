"""Scores for probabilistic forecasts: how right, how calibrated, how well ranked, how timely.

Every function takes numpy arrays (or anything ``np.asarray`` accepts) of equal length and is
vectorised. ``p`` are predicted win probabilities in [0, 1]; ``y`` are outcomes, 1 (won) or 0.
Empty inputs raise ``ValueError``; a score that is undefined for valid input (AUC with only
one class) is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Probabilities are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] before taking logs, so one
#: confident miss costs at most -log(1e-6) = 13.8 nats instead of infinity.
LOG_LOSS_EPS = 1e-6
RELIABILITY_BINS = 10

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReliabilityBin:
    """Forecasts with ``lower <= p < upper`` (the last bin includes 1.0)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None  # None when the bin is empty
    observed_rate: float | None


def _pair(p: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
    pa = np.asarray(p, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if pa.shape != ya.shape:
        raise ValueError(f"{pa.size} forecasts but {ya.size} outcomes")
    if pa.size == 0:
        raise ValueError("no forecasts to score")
    if np.any(np.isnan(pa)) or np.any((pa < 0.0) | (pa > 1.0)):
        raise ValueError("forecast probabilities must be in [0, 1]")
    if np.any((ya != 0.0) & (ya != 1.0)):
        raise ValueError("outcomes must be 0 or 1")
    return pa, ya


def brier_score(p: ArrayLike, y: ArrayLike) -> float:
    """Mean squared difference between forecast and outcome: 0 is perfect, 0.25 is a coin."""
    pa, ya = _pair(p, y)
    return float(np.mean((pa - ya) ** 2))


def log_loss(p: ArrayLike, y: ArrayLike, *, eps: float = LOG_LOSS_EPS) -> float:
    """Mean negative log-likelihood in nats, with ``p`` clipped to [eps, 1 - eps]."""
    pa, ya = _pair(p, y)
    pc = np.clip(pa, eps, 1.0 - eps)
    return float(-np.mean(ya * np.log(pc) + (1.0 - ya) * np.log1p(-pc)))


def reliability_table(
    p: ArrayLike, y: ArrayLike, *, bins: int = RELIABILITY_BINS
) -> list[ReliabilityBin]:
    """``bins`` equal-width bins over [0, 1]: count, mean forecast and observed win rate."""
    pa, ya = _pair(p, y)
    index = np.clip(np.floor(pa * bins).astype(np.intp), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sum_p = np.bincount(index, weights=pa, minlength=bins)
    sum_y = np.bincount(index, weights=ya, minlength=bins)
    table = []
    for b in range(bins):
        n = int(counts[b])
        table.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                count=n,
                mean_predicted=float(sum_p[b] / n) if n else None,
                observed_rate=float(sum_y[b] / n) if n else None,
            )
        )
    return table


def expected_calibration_error(
    p: ArrayLike, y: ArrayLike, *, bins: int = RELIABILITY_BINS
) -> float:
    """Count-weighted mean gap between mean forecast and observed rate over the bins."""
    table = reliability_table(p, y, bins=bins)
    total = sum(b.count for b in table)
    return float(
        sum(
            b.count * abs(b.mean_predicted - b.observed_rate)
            for b in table
            if b.mean_predicted is not None and b.observed_rate is not None
        )
        / total
    )


def roc_auc(p: ArrayLike, y: ArrayLike) -> float | None:
    """Chance a random won deal was forecast higher than a random lost one (ties count half):
    the Mann-Whitney statistic over average ranks. None when only one class is present."""
    pa, ya = _pair(p, y)
    positives = int(ya.sum())
    negatives = ya.size - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(pa, kind="mergesort")
    sorted_p = pa[order]
    # average 1-based rank of each run of tied forecasts
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    ends = np.r_[starts[1:], sorted_p.size]
    run_ranks = (starts + 1 + ends) / 2.0
    ranks = np.empty(pa.size, dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    rank_sum = float(ranks[ya == 1.0].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def _days(actual: ArrayLike, *predicted: ArrayLike) -> tuple[FloatArray, tuple[FloatArray, ...]]:
    a = np.asarray(actual, dtype=np.float64).ravel()
    ps = tuple(np.asarray(x, dtype=np.float64).ravel() for x in predicted)
    if any(x.shape != a.shape for x in ps):
        raise ValueError("predicted and actual days differ in length")
    if a.size == 0:
        raise ValueError("no closed deals to score")
    return a, ps


def days_mae(expected_days: ArrayLike, actual_days: ArrayLike) -> float:
    """Mean absolute error, in days, of the expected days to close (closed deals only)."""
    a, (e,) = _days(actual_days, expected_days)
    return float(np.mean(np.abs(e - a)))


def interval_coverage(low: ArrayLike, high: ArrayLike, actual_days: ArrayLike) -> float:
    """Share of closed deals whose actual days to close lie within [low, high]; for the
    [p10, p90] interval a calibrated forecaster covers about 0.8."""
    a, (lo, hi) = _days(actual_days, low, high)
    return float(np.mean((lo <= a) & (a <= hi)))
