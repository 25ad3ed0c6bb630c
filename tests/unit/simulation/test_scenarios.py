from __future__ import annotations

import numpy as np
import pytest

from pie.domain.errors import InvalidInput
from pie.simulation import deal_state, parse_scenario, simulate_scenario
from pie.simulation.scenarios import Scenario
from pie.simulation.state import DealState
from tests.unit.simulation.conftest import GtWorld


def _states(gt_world: GtWorld) -> list[DealState]:
    histories, _, as_of, model = gt_world
    return [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open]


def test_scenario_strings_parse_with_defaults_and_params() -> None:
    assert parse_scenario("add_champion") == Scenario("add_champion")
    assert parse_scenario("accelerate_demo") == Scenario("accelerate_demo", (("days", 7.0),))
    assert parse_scenario("accelerate_demo:days=3").param("days") == 3.0
    assert parse_scenario("increase_touchpoints:factor=2").param("factor") == 2.0
    custom = parse_scenario("custom:has_champion=true,size_ratio=2")
    assert dict(custom.params) == {"has_champion": True, "size_ratio": 2.0}
    assert str(custom) == "custom:has_champion=true,size_ratio=2"


@pytest.mark.parametrize(
    "text",
    ["nope", "custom", "custom:colour=red", "accelerate_demo:weeks=1", "custom:icp_match=maybe"],
)
def test_bad_scenario_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_scenario(text)


def test_scenarios_that_do_not_apply_are_refused(gt_world: GtWorld) -> None:
    *_, model = gt_world
    states = _states(gt_world)
    rng = np.random.default_rng(0)
    with_champion = next(s for s in states if s.context.has_champion)
    without_blocker = next(s for s in states if not s.context.unresolved_blocker)
    with pytest.raises(InvalidInput, match="already has a champion"):
        simulate_scenario(model, with_champion, "add_champion", runs=10, rng=rng)
    with pytest.raises(InvalidInput, match="no unresolved blocker"):
        simulate_scenario(model, without_blocker, "remove_blocker", runs=10, rng=rng)


@pytest.mark.parametrize(
    ("scenario", "pick"),
    [
        ("add_champion", lambda s: not s.context.has_champion),
        ("remove_blocker", lambda s: s.context.unresolved_blocker),
        ("increase_touchpoints:factor=4", lambda s: (s.context.days_since_activity or 0) > 10),
    ],
)
def test_favourable_scenarios_raise_the_win_rate(gt_world: GtWorld, scenario, pick) -> None:
    *_, model = gt_world
    state = next(
        s
        for s in _states(gt_world)
        if pick(s) and s.stage.value in ("lead", "discovery", "qualification")
    )
    # 20,000 runs: with context arriving along the paths, more touchpoints gain this deal
    # less than a point, which 4,000 runs cannot tell from zero
    result = simulate_scenario(model, state, scenario, runs=20_000, rng=np.random.default_rng(1))
    assert result.delta.p_win_ci[0] > 0, result
    body = result.to_dict()
    assert set(body) >= {"baseline", "modified", "delta", "confidence"}
    assert body["delta"]["p_win"] == pytest.approx(
        body["modified"]["p_win"] - body["baseline"]["p_win"], abs=1e-3
    )
    assert body["confidence"] == 0.95


def test_an_earlier_demo_shortens_the_cycle(gt_world: GtWorld) -> None:
    *_, model = gt_world
    state = next(s for s in _states(gt_world) if s.stage.value == "discovery")
    result = simulate_scenario(
        model, state, "accelerate_demo:days=10", runs=4000, rng=np.random.default_rng(2)
    )
    assert result.delta.days_ci[1] < 0
    assert result.delta.p_win >= 0


def test_worse_context_lowers_the_win_rate(gt_world: GtWorld) -> None:
    *_, model = gt_world
    state = _states(gt_world)[0]
    result = simulate_scenario(
        model, state, "custom:unresolved_blocker=true,has_champion=false,engaged_recently=false",
        runs=4000, rng=np.random.default_rng(3),
    )  # fmt: skip
    assert result.delta.p_win_ci[1] < 0


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e308"])
def test_a_scenario_parameter_must_be_a_finite_number(text: str) -> None:
    with pytest.raises(InvalidInput, match="finite number"):
        parse_scenario(f"accelerate_demo:days={text}")
