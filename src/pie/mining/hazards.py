"""Cause-specific piecewise-constant hazards with hierarchical shrinkage (all vectorised).

For every stage, context and dwell bin, the rate of leaving for each destination is
``events / exposure`` (days at risk). Censored visits (deals still open at ``as_of``) add
exposure and no event, which is the maximum-likelihood estimate under right-censoring; the
implied survival curve is the piecewise-exponential (Nelson-Aalen-like) estimate.

Shrinkage: each level of the hierarchy adds one factor (stage -> dwell bin -> champion ->
blocker -> icp -> size -> engagement); a child's rate is
``(events + k * parent_rate) / (exposure + k)`` with ``k = prior_strength`` visits' worth of
exposure in that bin, so sparse buckets are pulled to their parent and rich ones keep their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .config import MiningConfig
from .context import factor_shape

Float = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Counts:
    """Raw sufficient statistics on the full grid.

    events: (stage, *factors, bin, dest); exposure and at_risk: (stage, *factors, bin).
    """

    events: Float
    exposure: Float
    at_risk: Float


#: visits counted at a time: the (visits x bins) arrays of a chunk are the count's transient
#: memory, whatever the number of visits
COUNT_CHUNK = 65_536


def time_in_bins(
    cell: NDArray[np.intp], dwell: Float, left: Float, n_cells: int
) -> tuple[Float, Float]:
    """Per (cell, dwell bin), flat: the days visits spent in the bin (exposure) and how many
    reached it (at risk at its start), a chunk of visits at a time. Only the bins a visit
    reaches are counted (its first, and those starting before its dwell ends: a few of the
    bins for most visits): the others would add 0 days and 0 visits, which change no sum.
    Each bin's days are summed in visit order as one bincount of every visit sums them: a
    chunk's bincount starts from the totals so far (x + 0.0 is x), so the sums are the same
    to the last bit."""
    n_bins = left.size
    right = np.append(left[1:], np.inf)
    size = n_cells * n_bins
    every = np.arange(size)
    exposure: Float = np.zeros(size)
    at_risk: Float = np.zeros(size)
    for lo in range(0, max(cell.size, 1), COUNT_CHUNK):
        d = dwell[lo : lo + COUNT_CHUNK]
        # bins reached: those starting before the dwell ends (every bin for a NaN dwell)
        n = np.maximum(np.searchsorted(left, d, side="left"), 1)
        total = int(n.sum())
        visit = np.repeat(np.arange(d.size), n)
        b = np.arange(total) - np.repeat(np.cumsum(n) - n, n)  # bin, within each visit
        days = d[visit]
        overlap = np.clip(days, left[b], right[b]) - left[b]  # days spent in the bin
        reached = (days > left[b]) | (b == 0)  # entered the bin (at risk at its start)
        flat = cell[lo : lo + COUNT_CHUNK][visit] * n_bins + b
        exposure = np.bincount(  # type: ignore[assignment]  # float64 with weights
            np.concatenate([every, flat]),
            weights=np.concatenate([exposure, overlap]),
            minlength=size,
        )
        at_risk += np.bincount(flat, weights=reached.astype(np.float64), minlength=size)
    return exposure, at_risk


def count(
    stage: NDArray[np.intp],
    context: NDArray[np.intp],
    dwell: Float,
    dest: NDArray[np.intp],
    *,
    n_stages: int,
    config: MiningConfig,
) -> Counts:
    """Sufficient statistics from the visit arrays, with bincount (no loop over visits; the
    time in bins a chunk of visits at a time, ``time_in_bins``)."""
    shape = factor_shape(config)
    n_ctx = int(np.prod(shape))
    left = np.asarray(config.dwell_edges, dtype=np.float64)
    n_bins = left.size
    size = n_stages * n_ctx * n_bins
    cell = stage * n_ctx + context  # (visits,)
    exposure, at_risk = time_in_bins(cell, dwell, left, n_stages * n_ctx)
    done = dest >= 0
    ev_bin = np.clip(np.searchsorted(left, dwell[done], side="right") - 1, 0, n_bins - 1)
    ev_flat = (cell[done] * n_bins + ev_bin) * n_stages + dest[done]
    events = np.bincount(ev_flat, minlength=size * n_stages).astype(np.float64)
    grid = (n_stages, *shape, n_bins)
    return Counts(
        events=events.reshape(*grid, n_stages),
        exposure=exposure.reshape(grid).astype(np.float64),
        at_risk=at_risk.reshape(grid).astype(np.float64),
    )


def shrink(
    events: Float, exposure: Float, at_risk: Float, parent_rate: Float, strength: float
) -> Float:
    """(events + k * parent_rate) / (exposure + k): a gamma prior at the parent's rate worth
    ``strength`` visits, each of the bin's exposure per visit at risk but at most the parent's
    mean dwell, so that a pseudo-visit brings at most one expected exit. (Uncapped, visits
    that sit in a stage far longer than its typical dwell, such as stale deals, would be
    pulled back to the quick exits of the parent: many pseudo-exits against few real ones.)"""
    per_visit = exposure / np.maximum(at_risk, 1.0)
    parent_total = parent_rate.sum(axis=-1)
    with np.errstate(divide="ignore"):
        parent_dwell = np.where(parent_total > 0, 1.0 / parent_total, np.inf)
    visit = np.minimum(np.where(at_risk > 0, per_visit, 1.0), parent_dwell)
    k = strength * visit[..., None]
    return (events + k * parent_rate) / (exposure[..., None] + k)


def shrunk_rates(counts: Counts, root_rate: Float, config: MiningConfig) -> Float:
    """Rates (stage, *factors, bin, dest) per day, shrunk level by level.

    ``root_rate`` (stage, dest) is the prior of the stage level (canonical defaults, weak).
    """
    ev, ex, ar = counts.events, counts.exposure, counts.at_risk
    n_factors = ev.ndim - 3
    bin_axis = 1 + n_factors
    s = config.prior_strength
    # level -1: the stage, every bin and context pooled, shrunk (weakly) to the defaults
    ctx_axes = tuple(range(1, 1 + n_factors))
    stage_ev = ev.sum(axis=(*ctx_axes, bin_axis))
    stage_ex, stage_ar = ex.sum(axis=(*ctx_axes, bin_axis)), ar.sum(axis=ctx_axes)[..., 0]
    rate = shrink(stage_ev, stage_ex, stage_ar, root_rate, 1.0)  # (stage, dest)
    rate = rate.reshape(rate.shape[0], *([1] * n_factors), 1, rate.shape[1])
    # level 0: stage x dwell bin; levels 1..: add one factor at a time
    levels = range(n_factors + 1) if config.use_context else range(1)
    for level in levels:
        pooled = tuple(range(1 + level, 1 + n_factors))
        rate = shrink(
            ev.sum(axis=pooled, keepdims=True),
            ex.sum(axis=pooled, keepdims=True),
            ar.sum(axis=pooled, keepdims=True),
            rate,
            s,
        )
    return np.broadcast_to(rate, ev.shape).copy()
