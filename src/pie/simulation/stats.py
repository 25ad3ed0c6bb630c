"""Intervals for Monte Carlo estimates (95% by default).

p_win: Wilson score interval. Means (days, deltas): normal approximation, mean +- z x SE.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054


def wilson(
    successes: NDArray[np.float64], n: NDArray[np.float64], z: float = Z95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = np.maximum(n, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def mean_ci(
    x: NDArray[np.float64], axis: int = 0, z: float = Z95
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(mean, low, high) ignoring NaN along ``axis``; NaN where nothing is finite."""
    finite = np.isfinite(x)
    n = finite.sum(axis=axis)
    safe = np.where(finite, x, 0.0)
    total = safe.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(finite, safe - np.expand_dims(mean, axis), 0.0)
        var = (dev * dev).sum(axis=axis) / np.maximum(n - 1, 1)
        se = np.sqrt(var / np.maximum(n, 1))
    return mean, mean - z * se, mean + z * se


def confidence_level(z: float = Z95) -> float:
    return round(math.erf(z / math.sqrt(2.0)), 4)
