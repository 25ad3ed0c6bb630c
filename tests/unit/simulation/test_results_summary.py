"""Each deal's summary of its simulated runs, computed for a whole chunk of deals at once,
equals the summary of that deal's runs alone, computed the plain way (``numpy.quantile`` of
its finite days, of its won value; mean and Wilson interval): bit for bit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pie.simulation.results import QUANTILES, summarise
from pie.simulation.stats import mean_ci, wilson


def alone(value: float, won: np.ndarray, days: np.ndarray, horizon: float | None) -> dict[str, Any]:
    runs = won.size
    wins = float(won.sum())
    lo, hi = wilson(np.array([wins]), np.array([float(runs)]))
    mean, dlo, dhi = mean_ci(days)
    finite = days[np.isfinite(days)]
    q = np.quantile(finite, QUANTILES) if finite.size else np.full(3, np.nan)
    within = None
    if horizon is not None:
        within = float((won & (np.nan_to_num(days, nan=np.inf) <= horizon)).mean())
    return {
        "p_win": wins / runs,
        "p_win_ci": (float(lo[0]), float(hi[0])),
        "expected_days": float(mean),
        "expected_days_ci": (float(dlo), float(dhi)),
        "days_quantiles": tuple(float(x) for x in q),
        "value_quantiles": tuple(
            float(x) for x in np.quantile(np.where(won, value, 0.0), QUANTILES)
        ),
        "p_win_within_horizon": within,
    }


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, 30.0]),
)
def test_a_chunk_is_summarised_as_each_deal_alone(
    runs: int, deals: int, seed: int, horizon: float | None
) -> None:
    rng = np.random.default_rng(seed)
    won = rng.random((runs, deals)) < rng.random(deals)
    days = rng.exponential(40.0, (runs, deals)) * rng.choice([1e-3, 1.0, 1e5], deals)
    days[rng.random((runs, deals)) < rng.random()] = np.nan  # runs that did not close
    days[:, rng.integers(deals)] *= rng.choice([1.0, np.nan])  # a deal that never closed
    values = rng.choice([0.0, 1234.5, -20.0, np.nan, 1e9 / 3], deals)
    states = [SimpleNamespace(deal_id=uuid4(), value=float(v)) for v in values]
    got = summarise(states, won, days, horizon)  # type: ignore[arg-type]
    for j, summary in enumerate(got):
        want = alone(float(values[j]), won[:, j], days[:, j], horizon)
        assert repr({k: getattr(summary, k) for k in want}) == repr(want)
