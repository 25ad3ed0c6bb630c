"""Per-deal summaries of simulated runs, with their intervals (see ``stats``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    state: DealState, won: NDArray[np.bool_], days: Float, horizon_days: float | None
) -> DealSimulation:
    runs = won.size
    wins = float(won.sum())
    lo, hi = wilson(np.array([wins]), np.array([float(runs)]))
    p = wins / runs
    mean, dlo, dhi = mean_ci(days)
    finite = days[np.isfinite(days)]
    q = (
        tuple(float(x) for x in np.quantile(finite, QUANTILES))
        if finite.size
        else (np.nan, np.nan, np.nan)
    )
    won_value = np.where(won, state.value, 0.0)
    vq = tuple(float(x) for x in np.quantile(won_value, QUANTILES))
    within = None
    if horizon_days is not None:
        within = float((won & (np.nan_to_num(days, nan=np.inf) <= horizon_days)).mean())
    return DealSimulation(
        deal_id=state.deal_id,
        runs=runs,
        p_win=p,
        p_win_ci=(float(lo[0]), float(hi[0])),
        p_win_se=float(np.sqrt(p * (1 - p) / runs)),
        expected_days=float(mean),
        expected_days_ci=(float(dlo), float(dhi)),
        expected_days_se=float((dhi - mean) / 1.959963984540054) if finite.size > 1 else np.nan,
        days_quantiles=(q[0], q[1], q[2]),
        expected_value=state.value * p,
        expected_value_ci=(state.value * float(lo[0]), state.value * float(hi[0])),
        value_quantiles=(vq[0], vq[1], vq[2]),
        p_win_within_horizon=within,
    )


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
        for j in range(chunk.won.shape[1]):
            state = states[chunk.first_deal + j]
            out.append(summarise(state, chunk.won[:, j], chunk.days[:, j], horizon_days))
    return out
