from __future__ import annotations

import math

import numpy as np
import pytest

from pie.domain.history import DealHistory
from pie.domain.model import StakeholderRole
from pie.domain.stages import Stage
from pie.mining import Context, MiningConfig, SufficiencyLevel, fit
from pie.simulation.exact import exact
from pie.simulation.state import DealState
from tests.helpers_world import day, deal_history
from tests.unit.simulation.synth import AS_OF, Chain, synthetic_world

CHAMP = Context(has_champion=True, size_ratio=1.0)
PLAIN = Context(has_champion=False, size_ratio=1.0)


def _fresh(stage: Stage, ctx: Context) -> DealState:
    from uuid import uuid4

    return DealState(deal_id=uuid4(), stage=stage, days_in_stage=0.0, context=ctx)


def test_mined_probabilities_match_a_known_chain() -> None:
    chain = Chain()
    model = fit(synthetic_world(4000, seed=11, chain=chain), as_of=AS_OF)
    for ctx, truth in ((PLAIN, chain.p_adv), (CHAMP, chain.p_adv_champion)):
        for stage, nxt in ((Stage.QUALIFICATION, Stage.DISCOVERY), (Stage.DEMO, Stage.PROPOSAL)):
            est = model.next_stage_probabilities(stage, ctx)
            se = math.sqrt(truth * (1 - truth) / est.exits)
            assert abs(est.probabilities[nxt] - truth) < 3 * se, (stage, ctx, est)
            assert est.visits >= est.exits > 100
    assert model.mean_dwell(Stage.DEMO, PLAIN) == pytest.approx(chain.mean_dwell, rel=0.1)


def _slow_losses(deals: int, seed: int) -> list[DealHistory]:
    """lead -> qualification (0.6) or stalled; qualification -> won (0.6) or stalled; stalled
    deals are lost after 150 days on average. True P(win) = 0.36; losses take long."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(deals):
        t = float(rng.uniform(0, 600))
        moves: list[tuple[Stage, float]] = [(Stage.LEAD, t)]
        for nxt in (Stage.QUALIFICATION, Stage.CLOSED_WON):
            t += float(rng.exponential(10.0))
            moves.append((nxt if rng.random() < 0.6 else Stage.STALLED, t))
            if moves[-1][0] is Stage.STALLED:
                moves.append((Stage.CLOSED_LOST, t + float(rng.exponential(150.0))))
                break
        out.append(deal_history(f"slow{i}", [m for m in moves if m[1] <= 600.0]))
    return out


def test_censored_visits_keep_the_win_rate_unbiased() -> None:
    histories = _slow_losses(3000, seed=5)
    as_of = day(600.0)
    start = [_fresh(Stage.LEAD, PLAIN)]
    censored = exact(fit(histories, as_of=as_of), start).p_win[0]
    closed_only = [h for h in histories if not h.deal.is_open]
    naive = exact(fit(closed_only, as_of=as_of), start).p_win[0]
    se = math.sqrt(0.36 * 0.64 / 3000)
    assert abs(censored - 0.36) < 4 * se
    assert naive > 0.36 + 6 * se  # closed-only training over-counts the quick wins


def test_a_sparse_bucket_is_pulled_towards_its_parent_and_reports_its_count() -> None:
    rng = np.random.default_rng(3)
    histories = []
    for i in range(1500):
        t = float(rng.uniform(0, 500))
        d = float(rng.exponential(10))
        nxt = Stage.PROPOSAL if rng.random() < 0.7 else Stage.CLOSED_LOST
        histories.append(deal_history(f"p{i}", [(Stage.DEMO, t), (nxt, t + d)]))
    for i in range(4):  # four champion deals, all lost: raw estimate 0
        stake = [(StakeholderRole.CHAMPION, 1.0)]
        moves = [(Stage.DEMO, 10.0 + i), (Stage.CLOSED_LOST, 20.0 + i)]
        histories.append(deal_history(f"c{i}", moves, stakeholders=stake))
    # four champion deals are below the evidence minimum: lift it to see the shrinkage itself
    config = MiningConfig(min_won=0, min_lost=1, min_evidence_deals=0)
    model = fit(histories, as_of=day(600), config=config)
    sparse = model.next_stage_probabilities(Stage.DEMO, CHAMP)
    parent = model.next_stage_probabilities(Stage.DEMO, PLAIN)
    assert sparse.visits == 4 and sparse.exits == 4
    assert parent.visits > 1000
    assert 0.0 < sparse.probabilities[Stage.PROPOSAL] < parent.probabilities[Stage.PROPOSAL]


def test_below_the_sufficiency_gate_context_is_ignored_and_said() -> None:
    model = fit(synthetic_world(200, seed=2), as_of=AS_OF)
    assert model.sufficiency.level is SufficiencyLevel.STAGE
    assert "not enough history" in model.sufficiency.message
    a = model.next_stage_probabilities(Stage.DEMO, CHAMP).probabilities
    b = model.next_stage_probabilities(Stage.DEMO, PLAIN).probabilities
    assert a == b


def test_without_history_canonical_defaults_are_used() -> None:
    model = fit([], as_of=AS_OF)
    assert model.sufficiency.level is SufficiencyLevel.DEFAULTS
    p = exact(model, [_fresh(Stage.DEMO, PLAIN)]).p_win[0]
    assert p == pytest.approx(0.35)


def test_only_transitions_known_at_as_of_are_used() -> None:
    h = deal_history("x", [(Stage.LEAD, 0.0), (Stage.QUALIFICATION, 50.0)])
    model = fit([h], as_of=day(20.0))
    est = model.next_stage_probabilities(Stage.LEAD, PLAIN)
    assert est.visits == 1 and est.exits == 0  # censored at as_of, not a transition


def test_stale_visits_are_not_pulled_back_to_the_quick_exits_of_their_stage() -> None:
    """Most demo visits end within days; a few deals have sat in demo for a year. The
    hazard after 200 days must come from those few, not from the quick majority."""
    rng = np.random.default_rng(4)
    histories = []
    for i in range(1500):
        t = float(rng.uniform(0, 500))
        d = float(rng.exponential(2))
        nxt = Stage.PROPOSAL if rng.random() < 0.7 else Stage.CLOSED_LOST
        histories.append(deal_history(f"q{i}", [(Stage.DEMO, t), (nxt, t + d)]))
    for i in range(12):  # still in demo after 300+ days, never moved
        histories.append(deal_history(f"z{i}", [(Stage.DEMO, 200.0 + i)]))
    model = fit(histories, as_of=day(600), config=MiningConfig(min_won=0, min_lost=1))
    stays = model.survival(Stage.DEMO, PLAIN, np.array([60.0]), days_in_stage=380.0)[0]
    assert stays > 0.9
    fresh = model.survival(Stage.DEMO, PLAIN, np.array([60.0]), days_in_stage=0.0)[0]
    assert fresh < 0.05


def test_counting_visits_in_chunks_gives_the_sums_of_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counts are the same to the last bit however many visits a chunk holds: the
    exposure of a bin is summed in visit order either way."""
    from pie.mining import hazards
    from pie.mining.config import DEFAULT_CONFIG
    from pie.mining.context import factor_shape

    rng = np.random.default_rng(3)
    n, n_stages = 5_000, 9
    n_ctx = int(np.prod(factor_shape(DEFAULT_CONFIG)))
    stage = rng.integers(0, n_stages, n)
    context = rng.integers(0, n_ctx, n)
    dwell = rng.exponential(40.0, n) * rng.random(n) ** 3  # many sizes: rounding shows
    dest = np.where(rng.random(n) < 0.3, -1, rng.integers(0, n_stages, n))

    def counted() -> hazards.Counts:
        return hazards.count(stage, context, dwell, dest, n_stages=n_stages, config=DEFAULT_CONFIG)

    whole = counted()
    monkeypatch.setattr(hazards, "COUNT_CHUNK", 333)
    chunked = counted()
    for name in ("events", "exposure", "at_risk"):
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name
    assert whole.exposure.sum() > 0 and whole.events.sum() > 0


def test_counting_only_the_bins_a_visit_reaches_gives_the_sums_of_every_bin() -> None:
    """The time in bins counts, per visit, only its first bin and those starting before its
    dwell ends; the sums are those of counting every bin of every visit (the others add 0
    days and 0 visits), to the last bit, dwells on a bin's edge, beyond the last and NaN
    included."""
    from pie.mining import hazards

    def every_bin(
        cell: np.ndarray, dwell: np.ndarray, left: np.ndarray, n_cells: int
    ) -> tuple[np.ndarray, np.ndarray]:
        right = np.append(left[1:], np.inf)
        overlap = np.clip(dwell[:, None], left, right) - left
        reached = dwell[:, None] > left
        reached[:, 0] = True
        flat = (cell[:, None] * left.size + np.arange(left.size)).ravel()
        size = n_cells * left.size
        return (
            np.bincount(flat, weights=overlap.ravel(), minlength=size),
            np.bincount(flat, weights=reached.ravel().astype(np.float64), minlength=size),
        )

    rng = np.random.default_rng(5)
    left = np.array([0.0, 7.0, 14.0, 30.0, 90.0])
    n = 20_000
    cell = rng.integers(0, 40, n)
    dwell = rng.exponential(20.0, n) * rng.random(n) ** 2
    dwell[:6] = [0.0, 7.0, 14.0, 90.0, 1e6, np.nan]
    got = hazards.time_in_bins(cell, dwell, left, 40)
    for a, b in zip(got, every_bin(cell, dwell, left, 40), strict=True):
        assert a.tobytes() == b.tobytes()
    assert np.isnan(got[0][cell[5] * left.size + 1])  # a NaN dwell counts in every bin
