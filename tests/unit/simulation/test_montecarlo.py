from __future__ import annotations

import numpy as np
import pytest

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import Stage
from pie.mining import ProcessModel
from pie.simulation import deal_state, exact, simulate
from pie.simulation.scenarios import apply, paired_delta, parse_scenario, run_pair
from pie.simulation.state import DealState
from tests.helpers_world import deal_history
from tests.unit.simulation.conftest import GtWorld, context_held
from tests.unit.simulation.synth import AS_OF

Synth = tuple[list[DealHistory], ProcessModel]


def _open_states(histories: list[DealHistory], model: ProcessModel) -> list[DealState]:
    return [deal_state(h, model, as_of=model.as_of) for h in histories if h.deal.is_open]


def test_monte_carlo_is_within_two_standard_errors_of_the_exact_answer(gt_world: GtWorld) -> None:
    histories, _, _, fitted = gt_world
    model = context_held(fitted)  # the chain exact() solves: no context arrives on a path
    states = _open_states(histories, model)
    assert len(states) > 200
    runs = 4000
    mc = simulate(model, states, runs=runs, rng=np.random.default_rng(2))
    ex = exact(model, states)
    se_win = np.sqrt(ex.p_win * (1 - ex.p_win) / runs)  # the SE of a mean of runs, at the truth
    z_win = (np.array([o.p_win for o in mc]) - ex.p_win) / se_win
    z_days = [
        (o.expected_days - d) / o.expected_days_se
        for o, d in zip(mc, ex.expected_days, strict=True)
    ]
    # each deal has its own stream, so the deals' errors are independent: the share within
    # 2 SE is Binomial(n, 0.954) (0.93 is 1.8 SD below it for 253 deals; 0.92 is 2.6 SD), and
    # the z-scores of p_win must look standard normal: no bias, no extra spread
    assert np.mean(np.abs(z_win) < 2) >= 0.92
    assert np.mean(np.abs(z_days) < 2) >= 0.92
    assert abs(float(np.mean(z_win))) < 3 / np.sqrt(len(states))
    assert 0.85 < float(np.std(z_win)) < 1.15


def test_the_same_seed_gives_the_same_result(synth: Synth) -> None:
    histories, model = synth
    states = _open_states(histories, model)[:20]
    a = simulate(model, states, runs=500, rng=np.random.default_rng(7))
    b = simulate(model, states, runs=500, rng=np.random.default_rng(7))
    c = simulate(model, states, runs=500, rng=np.random.default_rng(8))
    assert a == b
    assert a != c


def test_chunking_does_not_change_the_result(synth: Synth) -> None:
    histories, model = synth
    states = _open_states(histories, model)[:10]
    a = simulate(model, states, runs=300, rng=np.random.default_rng(3), chunk_paths=300)
    b = simulate(model, states, runs=300, rng=np.random.default_rng(3))
    assert a == b


def test_common_random_numbers_shrink_the_variance_of_the_delta(gt_world: GtWorld) -> None:
    histories, _, _, model = gt_world
    state = next(s for s in _open_states(histories, model) if not s.context.has_champion)
    modified = apply(parse_scenario("add_champion"), state, model)
    crn = paired_delta(*run_pair(model, state, modified, runs=4000, key=11))
    ind = paired_delta(*run_pair(model, state, modified, runs=4000, key=11, common=False))
    assert crn.p_win_ci[1] - crn.p_win_ci[0] < 0.9 * (ind.p_win_ci[1] - ind.p_win_ci[0])
    assert crn.days_ci[1] - crn.days_ci[0] < 0.6 * (ind.days_ci[1] - ind.days_ci[0])


def test_a_closed_deal_cannot_be_simulated(synth: Synth) -> None:
    histories, model = synth
    closed = next(h for h in histories if not h.deal.is_open)
    with pytest.raises(InvalidInput, match="already closed"):
        deal_state(closed, model, as_of=AS_OF)


def test_quantiles_and_intervals_are_ordered(synth: Synth) -> None:
    histories, model = synth
    (out,) = simulate(
        model, _open_states(histories, model)[:1], runs=2000, rng=np.random.default_rng(0)
    )
    assert out.p_win_ci[0] <= out.p_win <= out.p_win_ci[1]
    assert out.days_quantiles[0] <= out.days_quantiles[1] <= out.days_quantiles[2]
    assert out.expected_days_ci[0] <= out.expected_days <= out.expected_days_ci[1]
    assert out.expected_value == pytest.approx(out.p_win * 1000.0)


def test_a_deal_in_negotiation_that_only_wins_closes_won_in_every_run() -> None:
    histories = [
        deal_history(f"w{i}", [(Stage.NEGOTIATION, float(i)), (Stage.CLOSED_WON, i + 5.0)])
        for i in range(60)
    ] + [deal_history("open", [(Stage.NEGOTIATION, 100.0)])]
    from pie.mining import MiningConfig, fit

    model = fit(histories, as_of=AS_OF, config=MiningConfig(min_won=1, min_lost=0))
    state = deal_state(histories[-1], model, as_of=AS_OF)
    (out,) = simulate(model, [state], runs=1000, rng=np.random.default_rng(0))
    assert out.p_win > 0.97  # only the weak canonical prior puts any mass on losing
