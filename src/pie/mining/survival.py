"""Piecewise-exponential survival: exit-bin probabilities and mean remaining dwell, given the
days already spent in the stage. Rows are independent (one per stage visit or deal)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


def bin_widths(left: Float, spent: Float) -> tuple[Float, Float]:
    """(start, width) of each bin's part after ``spent`` days: arrays (rows, bins)."""
    right = np.append(left[1:], np.inf)
    start = np.maximum(left, spent[:, None])
    return start, np.clip(right - start, 0.0, None)


def exit_profile(total_rate: Float, left: Float, spent: Float) -> tuple[Float, Float]:
    """For rows with total hazard ``total_rate`` (rows, bins) per day and ``spent`` days done:
    P(the visit ends in each bin | still in the stage after ``spent``) and the mean remaining
    days. The last bin is open-ended; its rate must be positive."""
    _, width = bin_widths(left, spent)
    with np.errstate(invalid="ignore"):
        h = np.where(width > 0, total_rate * width, 0.0)  # inf * 0 guarded
    h[:, -1] = np.where(width[:, -1] > 0, np.inf, 0.0)
    cum = np.concatenate([np.zeros((h.shape[0], 1)), np.cumsum(h, axis=1)], axis=1)
    surv = np.exp(-cum)  # at each bin's (shifted) start, and the end of the last bin (0)
    p_exit = surv[:, :-1] - surv[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        in_bin = np.where(
            total_rate > 0, -np.expm1(-h) / total_rate, np.where(np.isinf(width), np.inf, width)
        )
    in_bin = np.where(width > 0, in_bin, 0.0)
    in_bin[:, -1] = np.where(width[:, -1] > 0, 1.0 / total_rate[:, -1], 0.0)
    mean = (surv[:, :-1] * in_bin).sum(axis=1)
    return p_exit, mean


def survival_at(total_rate: Float, left: Float, spent: Float, days: Float) -> Float:
    """P(still in the stage after ``days`` more days | ``spent`` done): (rows, len(days))."""
    right = np.append(left[1:], np.inf)
    start = np.maximum(left, spent[:, None])  # (rows, bins)
    end = spent[:, None, None] + days[None, :, None]  # (rows, days, 1)
    used = np.clip(np.minimum(end, right) - start[:, None, :], 0.0, None)
    out: Float = np.exp(-(total_rate[:, None, :] * used).sum(axis=2))
    return out
