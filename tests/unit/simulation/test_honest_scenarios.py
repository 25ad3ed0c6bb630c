"""Property checks on random worlds: best_case >= current >= worst_case for every deal, and
nothing is recommended on a factor the data has no evidence about."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pie.domain.history import DealHistory
from pie.domain.model import StakeholderRole
from pie.domain.stages import OPEN_PIPELINE, Stage
from pie.mining import Context, MiningConfig, fit
from pie.simulation import DealState, deal_forecast, deal_state
from pie.simulation.streams import generator
from tests.helpers_world import day, deal_history

AS_OF_DAY = 400.0


def random_world(seed: int, *, contacts: bool, activities: bool) -> list[DealHistory]:
    """Deals walking the pipeline with random odds and dwell times per stage; champions and
    blockers (when ``contacts``) and meetings (when ``activities``) shift the odds at random,
    possibly against intuition."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(80, 400))
    p_adv = rng.uniform(0.4, 0.9, len(OPEN_PIPELINE))
    dwell = rng.uniform(3, 40, len(OPEN_PIPELINE))
    champion_shift, blocker_shift = rng.uniform(-0.3, 0.3, 2)
    out = []
    for i in range(n):
        t = float(rng.uniform(0, AS_OF_DAY))
        champ = contacts and rng.random() < 0.3
        block = contacts and rng.random() < 0.2
        shift = champion_shift * champ + blocker_shift * block
        start = int(rng.integers(0, 3))
        moves: list[tuple[Stage, float]] = [(OPEN_PIPELINE[start], t)]
        meetings: list[float] = []
        for k in range(start, len(OPEN_PIPELINE)):
            t += float(rng.exponential(dwell[k]))
            if t > AS_OF_DAY:
                break
            if activities and rng.random() < 0.7:
                meetings.append(t - float(rng.uniform(0, 5)))
            won = rng.random() < np.clip(p_adv[k] + shift, 0.05, 0.95)
            nxt = (
                Stage.CLOSED_LOST
                if not won
                else OPEN_PIPELINE[k + 1]
                if k + 1 < len(OPEN_PIPELINE)
                else Stage.CLOSED_WON
            )
            moves.append((nxt, t))
            if nxt.is_closed:
                break
        stake = []
        if champ:
            stake.append((StakeholderRole.CHAMPION, moves[0][1] + float(rng.uniform(0, 20))))
        if block:
            stake.append((StakeholderRole.BLOCKER, moves[0][1] + float(rng.uniform(0, 20))))
        stake = [(r, at) for r, at in stake if at < AS_OF_DAY]
        meetings = [m for m in meetings if moves[0][1] <= m < AS_OF_DAY]
        out.append(deal_history(f"w{seed}-{i}", moves, stakeholders=stake, activities=meetings))
    return out


def _states(histories: list[DealHistory], seed: int) -> tuple[list[DealState], object]:
    config = MiningConfig(min_won=10, min_lost=20)
    model = fit(histories, as_of=day(AS_OF_DAY), config=config)
    states = [deal_state(h, model, as_of=model.as_of) for h in histories if h.deal.is_open]
    extra = [  # hypothetical deals in every corner of the context
        DealState(
            deal_id=states[0].deal_id,
            stage=stage,
            days_in_stage=float(d),
            context=Context(has_champion=c, unresolved_blocker=b, days_since_activity=a),
            stream=f"x{seed}-{k}",
        )
        for k, (stage, d, c, b, a) in enumerate(
            [
                (Stage.LEAD, 0, False, False, None),
                (Stage.DISCOVERY, 12, True, True, 3.0),
                (Stage.DEMO, 60, False, True, 30.0),
                (Stage.NEGOTIATION, 2, True, False, 10.0),
            ]
        )
    ]
    return states[:12] + extra, model


WORLDS = [
    (seed, contacts, activities)
    for seed, (contacts, activities) in enumerate(
        [(True, True), (False, False), (False, True), (True, False)] * 3
    )
]


@pytest.mark.parametrize(("seed", "contacts", "activities"), WORLDS)
def test_best_case_is_never_below_the_current_trajectory_nor_worst_case_above_it(
    seed: int, contacts: bool, activities: bool
) -> None:
    histories = random_world(seed, contacts=contacts, activities=activities)
    states, model = _states(histories, seed)
    for state in states:
        fc = deal_forecast(model, state, runs=400, rng=generator(seed))  # type: ignore[arg-type]
        current, best, worst = fc.scenarios
        assert best.p_win >= current.p_win >= worst.p_win, (state, fc.scenarios)
        for rec in fc.recommendations:
            assert rec.result.delta.p_win_ci[0] > 0 or rec.result.delta.days_ci[1] < 0
            assert rec.evidence_count >= model.config.min_evidence_deals  # type: ignore[attr-defined]
        if not contacts:
            scenarios = {r.scenario for r in fc.recommendations}
            assert not scenarios & {"add_champion", "remove_blocker"}
        if not activities:
            assert "increase_touchpoints:factor=2" not in {r.scenario for r in fc.recommendations}


def test_a_factor_no_deal_has_is_ignored_said_and_never_recommended() -> None:
    histories = random_world(99, contacts=False, activities=False)
    states, model = _states(histories, 99)
    found = model.evidence["has_champion"]  # type: ignore[attr-defined]
    assert found.with_deals == 0 and not found.enough and not found.supported
    assert "not enough evidence on a champion" in found.message()
    assert {"has_champion", "unresolved_blocker", "engaged_recently"} <= model.ignored  # type: ignore[attr-defined]
    plain, champ = Context(), Context(has_champion=True)
    assert model.context_index(plain) == model.context_index(champ)  # type: ignore[attr-defined]
    fc = deal_forecast(model, states[0], runs=400, rng=generator(0))  # type: ignore[arg-type]
    assert {r.scenario for r in fc.recommendations} <= {"accelerate_demo:days=7"}  # timing only
    assert any("Identify a champion: not recommended, not enough evidence" in n for n in fc.notes)


def test_a_real_effect_is_supported_and_recommended_with_its_evidence(gt_world: Any) -> None:
    histories, _, as_of, model = gt_world
    found = model.evidence["has_champion"]
    assert found.supported and found.odds_ratio > 1.2, found.message()
    h = next(
        h for h in histories
        if h.deal.is_open and not model.context_of(h, as_of).has_champion
        and h.deal.stage in (Stage.QUALIFICATION, Stage.DISCOVERY)
    )  # fmt: skip
    fc = deal_forecast(model, deal_state(h, model, as_of=as_of), runs=4000, rng=generator(1))
    rec = next(r for r in fc.recommendations if r.scenario == "add_champion")
    assert rec.evidence is found
    assert found is not None and rec.evidence_count == found.deals
    assert rec.result.delta.p_win_ci[0] > 0
    body = fc.to_dict()["recommendations"]
    assert {"delta_ci", "evidence_count", "evidence"} <= set(body[0])


def test_a_factor_without_evidence_never_arrives() -> None:
    histories = random_world(98, contacts=False, activities=True)
    _, model = _states(histories, 98)
    arrivals = model.arrivals  # type: ignore[attr-defined]
    assert arrivals is not None and not arrivals.rates.any()
    assert arrivals.events.sum() == 0
