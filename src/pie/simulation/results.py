"""Per-deal summaries of simulated runs, with their intervals (see ``stats``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from pie.mining.model import ProcessModel

from .montecarlo import chunks, new_key
from .state import DealState
from .stats import mean_ci, wilson

Float = NDArray[np.float64]
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True, slots=True)
class DealSimulation:
    """One deal's simulated outcome. Intervals are 95%: Wilson for p_win (and expected value,
    which is value x p_win), normal for the mean days. Days count from ``as_of`` to the close
    (won or lost), over runs that closed within the simulation's limit."""

    deal_id: UUID
    runs: int
    p_win: float
    p_win_ci: tuple[float, float]
    p_win_se: float
    expected_days: float
    expected_days_ci: tuple[float, float]
    expected_days_se: float
    days_quantiles: tuple[float, float, float]  # P10, P50, P90
    expected_value: float
    expected_value_ci: tuple[float, float]
    value_quantiles: tuple[float, float, float]  # of won value (value if won, else 0)
    p_win_within_horizon: float | None = None


def summarise(
    states: Sequence[DealState], won: NDArray[np.bool_], days: Float, horizon_days: float | None
) -> list[DealSimulation]:
    """One summary per deal (column) of a chunk's runs (``won``, ``days``: (runs, deals)),
    all deals at once; each figure equals that of the deal's runs summarised alone."""
    runs, k = won.shape
    wins = won.sum(axis=0, dtype=np.int64)
    lo, hi = wilson(wins.astype(np.float64), np.full(k, float(runs)))
    p = wins / runs
    by_deal = np.ascontiguousarray(days.T)  # each deal's runs contiguous: sums as alone
    mean, dlo, dhi = mean_ci(by_deal, axis=1)
    finite = np.isfinite(by_deal)
    n_finite = finite.sum(axis=1)
    ordered = np.sort(np.where(finite, by_deal, np.inf), axis=1)  # finite days first
    q = _quantiles(ordered, n_finite)
    value = np.array([s.value for s in states], dtype=np.float64)
    vq = _won_value_quantiles(value, wins, runs)
    within: list[float | None] = [None] * k
    if horizon_days is not None:
        within = _shares(won, days, horizon_days).tolist()
    se = (dhi - mean) / 1.959963984540054
    out = []
    for j, state in enumerate(states):
        pj, loj, hij = float(p[j]), float(lo[j]), float(hi[j])
        out.append(
            DealSimulation(
                deal_id=state.deal_id,
                runs=runs,
                p_win=pj,
                p_win_ci=(loj, hij),
                p_win_se=float(np.sqrt(pj * (1 - pj) / runs)),
                expected_days=float(mean[j]),
                expected_days_ci=(float(dlo[j]), float(dhi[j])),
                expected_days_se=float(se[j]) if n_finite[j] > 1 else np.nan,
                days_quantiles=(float(q[j, 0]), float(q[j, 1]), float(q[j, 2])),
                expected_value=state.value * pj,
                expected_value_ci=(state.value * loj, state.value * hij),
                value_quantiles=(float(vq[j, 0]), float(vq[j, 1]), float(vq[j, 2])),
                p_win_within_horizon=within[j],
            )
        )
    return out


def _shares(won: NDArray[np.bool_], days: Float, horizon_days: float | None) -> Float:
    """Each deal's (column's) share of runs won, within ``horizon_days`` when given."""
    if horizon_days is not None:
        won = won & (np.nan_to_num(days, nan=np.inf) <= horizon_days)
    out: Float = won.sum(axis=0, dtype=np.int64) / won.shape[0]
    return out


def _lerp(a: Float, b: Float, t: Float) -> Float:
    """``numpy.quantile``'s linear interpolation, operation for operation."""
    diff = b - a
    out: Float = a + diff * t
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out


def _quantiles(ordered: Float, n: NDArray[np.int64]) -> Float:
    """(rows, QUANTILES): ``numpy.quantile(row[:n], QUANTILES)`` ("linear") of each row of
    ``ordered`` whose first ``n`` values are its sorted sample (NaN where ``n`` is 0)."""
    rows, width = ordered.shape
    first = np.arange(rows, dtype=np.intp) * width
    with np.errstate(invalid="ignore"):  # rows without a finite value: inf - inf
        return sorted_quantiles(ordered.ravel(), first, n)


def sorted_quantiles(
    values: Float,
    first: NDArray[np.integer[Any]],
    n: NDArray[np.integer[Any]],
    less: Float | None = None,
) -> Float:
    """(queries, QUANTILES): ``numpy.quantile(values[first:first + n] - less, QUANTILES)``
    ("linear", operation for operation) of each query, ``values`` sorted ascending within each
    query's range, without copying or partitioning the range (a sample minus a number stays
    sorted: rounding is monotone). NaN where ``n`` is 0."""
    n = np.asarray(n)
    virtual = (n[:, None] - 1) * np.array(QUANTILES)
    before = np.floor(virtual)
    last = np.maximum(n - 1, 0)[:, None]
    i = np.minimum(before.astype(np.intp), last).clip(0)
    j = np.minimum(i + 1, last)
    at = np.asarray(first, dtype=np.intp)[:, None]
    a = values[at + i] if values.size else np.zeros(i.shape)
    b = values[at + j] if values.size else np.zeros(i.shape)
    if less is not None:
        a, b = a - less[:, None], b - less[:, None]
    out = _lerp(a, b, virtual - before)
    out[n == 0] = np.nan
    return out


def _won_value_quantiles(value: Float, wins: NDArray[np.int64], runs: int) -> Float:
    """(deals, QUANTILES): the quantiles of each deal's won value over its runs (``value`` in
    the runs it won, 0 in the others), from the two values' counts without sorting runs."""
    virtual = (runs - 1) * np.array(QUANTILES)
    before = np.floor(virtual)
    i = np.minimum(before.astype(np.intp), runs - 1)
    j = np.minimum(i + 1, runs - 1)
    unknown = np.isnan(value)  # NaN in the won runs: NaN quantiles if any was won
    value = np.where(unknown, 0.0, value)
    low, high = np.minimum(value, 0.0), np.maximum(value, 0.0)
    n_low = np.where(value >= 0, runs - wins, wins)[:, None]  # how many runs hold ``low``
    a = np.where(i[None, :] < n_low, low[:, None], high[:, None])
    b = np.where(j[None, :] < n_low, low[:, None], high[:, None])
    out = _lerp(a, b, np.broadcast_to(virtual - before, a.shape))
    out[unknown & (wins > 0)] = np.nan
    return out


def simulate(
    model: ProcessModel,
    states: Sequence[DealState],
    *,
    runs: int,
    rng: np.random.Generator,
    horizon_days: float | None = None,
    chunk_paths: int = 200_000,
    max_days: float = 3650.0,
) -> list[DealSimulation]:
    """Simulate every deal ``runs`` times; the same Generator state gives the same result."""
    key = new_key(rng)
    out: list[DealSimulation] = []
    for chunk in chunks(
        model, states, runs=runs, key=key, chunk_paths=chunk_paths, max_days=max_days
    ):
        part = states[chunk.first_deal : chunk.first_deal + chunk.won.shape[1]]
        out.extend(summarise(part, chunk.won, chunk.days, horizon_days))
    return out


def win_shares(
    model: ProcessModel,
    states: Sequence[DealState],
    *,
    runs: int,
    rng: np.random.Generator,
    horizon_days: float | None = None,
) -> Float:
    """Each deal's ``p_win`` (``p_win_within_horizon`` with ``horizon_days``) as ``simulate``
    gives it with its default limits, from the same runs, without its other figures."""
    key = new_key(rng)
    walked = chunks(model, states, runs=runs, key=key)
    parts = [_shares(chunk.won, chunk.days, horizon_days) for chunk in walked]
    return np.concatenate(parts) if parts else np.zeros(0)
