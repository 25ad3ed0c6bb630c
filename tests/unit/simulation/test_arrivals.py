"""Context that arrives along the simulated paths: champions and first blockers at the mined
rates (per stage and time in stage), and scenarios that change those rates or hold a factor."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pie.domain.errors import InvalidInput
from pie.mining import MiningConfig
from pie.mining.context import arrival_times, to_days
from pie.simulation import deal_forecast, deal_state, simulate, simulate_scenario
from pie.simulation.backtest import run_backtest
from pie.simulation.forecaster import MarkovForecaster
from pie.simulation.scenarios import apply, parse_scenario
from pie.simulation.state import DealState
from pie.simulation.streams import generator
from tests.unit.simulation.conftest import GtWorld, context_held


def _open(gt_world: GtWorld) -> list[DealState]:
    histories, _, as_of, model = gt_world
    return [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open]


def test_with_both_rates_at_zero_the_paths_are_those_of_the_held_context(
    gt_world: GtWorld,
) -> None:
    *_, model = gt_world
    states = _open(gt_world)[:40]
    still_scenario = parse_scenario("custom:champion_rate=0,blocker_rate=0")
    still = [apply(still_scenario, s, model) for s in states]
    a = simulate(model, still, runs=300, rng=generator(4))
    b = simulate(context_held(model), states, runs=300, rng=generator(4))
    assert a == b
    moving = simulate(model, states, runs=300, rng=generator(4))
    assert moving != b


def test_deals_without_a_champion_may_gain_one_and_the_champion_scenario_gains_less(
    gt_world: GtWorld,
) -> None:
    """In the sample world a champion raises the odds and arrives at about 1-2% a day early in
    the pipeline: a deal without one is worth more when it can still find one, and adding one
    now adds less than it would if none could ever come."""
    *_, model = gt_world
    held = context_held(model)
    states = [s for s in _open(gt_world) if not s.context.has_champion and s.stage.value == "lead"][
        :30
    ]
    assert len(states) >= 10
    moving = np.array([o.p_win for o in simulate(model, states, runs=2000, rng=generator(1))])
    fixed = np.array([o.p_win for o in simulate(held, states, runs=2000, rng=generator(1))])
    assert moving.mean() > fixed.mean() + 0.01
    gain_moving = simulate_scenario(model, states[0], "add_champion", runs=20_000, rng=generator(2))
    gain_fixed = simulate_scenario(held, states[0], "add_champion", runs=20_000, rng=generator(2))
    assert gain_moving.delta.p_win < gain_fixed.delta.p_win


def test_scenarios_hold_or_scale_the_arrivals(gt_world: GtWorld) -> None:
    *_, model = gt_world
    states = _open(gt_world)
    blocked = next(s for s in states if s.context.unresolved_blocker)
    assert apply(parse_scenario("remove_blocker"), blocked, model).arrival_scale[1] == 0.0
    free = next(s for s in states if not s.context.has_champion)
    faster = apply(parse_scenario("custom:champion_rate=3"), free, model)
    assert faster.arrival_scale[0] == 3 * free.arrival_scale[0]
    held = apply(parse_scenario("custom:has_champion=false"), free, model)
    assert held.arrival_scale[0] == 0.0
    fast = simulate(model, [faster], runs=4000, rng=generator(0))[0].p_win
    none = simulate(model, [held], runs=4000, rng=generator(0))[0].p_win
    assert fast > none
    forecast = deal_forecast(model, free, runs=500, rng=generator(0))
    worst = {t.name: t.changes for t in forecast.scenarios}["worst_case"]
    assert "no champion is found" in worst


def test_a_negative_rate_is_refused(gt_world: GtWorld) -> None:
    *_, model = gt_world
    with pytest.raises(InvalidInput, match="champion_rate must be 0 or more"):
        apply(parse_scenario("custom:champion_rate=-1"), _open(gt_world)[0], model)


@pytest.mark.slow
def test_forecasts_of_deals_that_later_gain_a_champion_improve(gt_world: GtWorld) -> None:
    """Back-test on the sample world (champions found at ground-truth rates per day in each
    stage) with arrivals on and off. Deals open at a cutoff without a champion that find one
    later are under-forecast when context is frozen; with arrivals their Brier score must
    improve by more than two standard errors (paired over the same deals), while the Brier
    score over every deal does not get worse beyond noise."""
    histories = gt_world[0]
    cutoffs = (
        datetime(2025, 7, 1, tzinfo=UTC),
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    found = {h.deal.id: arrival_times(h)[0] for h in histories}
    scored = {}
    for name, config in (("on", MiningConfig()), ("off", MiningConfig(context_arrives=False))):
        report = run_backtest(
            histories,
            cutoffs=cutoffs,
            horizon_days=None,
            model=MarkovForecaster(config),
            baselines={},
        )
        rows = [
            (f.prediction.p_win, float(bool(f.outcome.won)), found[f.prediction.deal_id],
             to_days(f.cutoff))
            for f in report.model.forecasts
            if f.outcome.won is not None
        ]  # fmt: skip
        scored[name] = np.array(rows)
    on, off = scored["on"], scored["off"]
    y, champion_at, cutoff = on[:, 1], on[:, 2], on[:, 3]
    later = np.isfinite(champion_at) & (champion_at > cutoff)
    assert later.sum() >= 50
    gain = (off[:, 0] - y) ** 2 - (on[:, 0] - y) ** 2
    g = gain[later]
    assert g.mean() > 2 * g.std(ddof=1) / np.sqrt(g.size), g.mean()
    assert abs(np.mean(on[later, 0] - y[later])) < abs(np.mean(off[later, 0] - y[later]))
    assert gain.mean() > -2 * gain.std(ddof=1) / np.sqrt(gain.size)
