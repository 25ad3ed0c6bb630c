"""The model's calibration map applied to every simulated P(win), run by run."""

from __future__ import annotations

import dataclasses

import numpy as np

from pie.mining.calibration_map import CalibrationMap, group_of
from pie.simulation import deal_forecast, deal_state, simulate, simulate_scenario
from pie.simulation.streams import generator
from tests.unit.simulation.conftest import GtWorld

DOWN = CalibrationMap(((-0.6, 0.8), (-0.4, 1.0), (0.3, 1.0)), 500)


def test_each_deal_is_won_in_about_the_mapped_share_of_its_runs(gt_world: GtWorld) -> None:
    histories, _, as_of, model = gt_world
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:60]
    mapped = dataclasses.replace(model, calibration=DOWN)
    raw = np.array([o.p_win for o in simulate(model, states, runs=4000, rng=generator(3))])
    got = np.array([o.p_win for o in simulate(mapped, states, runs=4000, rng=generator(3))])
    groups = np.array([group_of(s.stage) for s in states], dtype=np.intp)
    want = DOWN.apply(raw, groups)
    se = np.sqrt(np.maximum(want * (1 - want), 1e-4) / 4000)
    assert np.mean(np.abs(got - want) < 2.5 * se) >= 0.9
    assert (got < raw).sum() > 0 and (got > raw).sum() > 0  # stalled deals go up


def test_scenarios_and_trajectories_use_the_map_and_stay_ordered(gt_world: GtWorld) -> None:
    histories, _, as_of, model = gt_world
    mapped = dataclasses.replace(model, calibration=DOWN)
    state = next(
        s
        for h in histories
        if h.deal.is_open
        and not (s := deal_state(h, model, as_of=as_of)).context.has_champion
        and group_of(s.stage) == 0  # early stages: the map lowers them
    )
    raw = simulate_scenario(model, state, "add_champion", runs=4000, rng=generator(0))
    cal = simulate_scenario(mapped, state, "add_champion", runs=4000, rng=generator(0))
    assert cal.baseline.p_win < raw.baseline.p_win
    p = {
        t.name: t.p_win for t in deal_forecast(mapped, state, runs=2000, rng=generator(0)).scenarios
    }
    assert p["best_case"] >= p["current_trajectory"] >= p["worst_case"]
