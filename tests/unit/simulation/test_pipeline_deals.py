"""Each open deal's part in the pipeline forecast, from the same runs as the periods."""

from __future__ import annotations

import numpy as np
import pytest

from pie.simulation import deal_state, parse_period, simulate
from pie.simulation.pipeline import _median_won_days, pipeline_forecast_by_deal
from tests.unit.simulation.conftest import GtWorld


def test_deals_add_up_to_the_periods_and_agree_with_one_deal_simulations(
    gt_world: GtWorld,
) -> None:
    histories, _, as_of, model = gt_world
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:200]
    periods = [parse_period(p) for p in ("2026Q4", "2027")]
    forecasts, deals = pipeline_forecast_by_deal(
        model, states, periods, as_of=as_of, runs=3000, rng=np.random.default_rng(5)
    )
    assert [d.deal_id for d in deals] == [s.deal_id for s in states]
    for k, f in enumerate(forecasts):
        assert sum(d.value * d.p_win_in[k] for d in deals) == pytest.approx(f.expected_value)
        assert sum(d.p_win_in[k] for d in deals) == pytest.approx(f.expected_wins)
    alone = simulate(model, states, runs=3000, rng=np.random.default_rng(6))
    for d, s in zip(deals, alone, strict=True):
        assert sum(d.p_win_in) <= d.p_win + 1e-12
        # two independent estimates of one probability: within Monte Carlo error
        assert d.p_win == pytest.approx(s.p_win, abs=0.055)  # 4 sd of the difference
        assert np.isnan(d.median_days_to_win) == (d.p_win == 0)


def test_chunking_does_not_change_the_answer(gt_world: GtWorld) -> None:
    histories, _, as_of, model = gt_world
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:40]
    periods = [parse_period("2026Q4")]

    def run(chunk_paths: int) -> object:
        return pipeline_forecast_by_deal(
            model,
            states,
            periods,
            as_of=as_of,
            runs=500,
            rng=np.random.default_rng(1),
            chunk_paths=chunk_paths,
        )

    whole, parts = run(200_000), run(1000)
    assert whole == parts


def test_median_over_the_won_runs_only() -> None:
    won = np.array([[True, False, True], [True, False, False], [False, False, True]])
    days = np.array([[10.0, 1.0, 5.0], [30.0, 2.0, 99.0], [1.0, 3.0, 7.0]])
    out = _median_won_days(won, days)
    assert out[0] == 20.0
    assert np.isnan(out[1])
    assert out[2] == 6.0
