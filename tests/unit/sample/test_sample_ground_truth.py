"""The ground-truth process's pure functions: exact probabilities, documented directions."""

from __future__ import annotations

import itertools
import math

import pytest

from pie.domain.stages import OPEN_PIPELINE, Stage
from pie.sample import (
    Context,
    GroundTruth,
    dwell_distribution,
    from_json_dict,
    next_stage_probabilities,
    to_json_dict,
)

GT = GroundTruth()
BASE = Context(
    has_champion=False,
    unresolved_blocker=False,
    icp_match=False,
    size_ratio=1.0,
    engaged_recently=False,
)


def ctx(**changes: object) -> Context:
    fields: dict[str, object] = {
        "has_champion": BASE.has_champion,
        "unresolved_blocker": BASE.unresolved_blocker,
        "icp_match": BASE.icp_match,
        "size_ratio": BASE.size_ratio,
        "engaged_recently": BASE.engaged_recently,
    }
    fields.update(changes)
    return Context(**fields)  # type: ignore[arg-type]


def advance_target(stage: Stage) -> Stage:
    return Stage.CLOSED_WON if stage is Stage.NEGOTIATION else OPEN_PIPELINE[stage.rank + 1]


def test_probabilities_sum_to_one_in_every_context() -> None:
    for stage, flags, ratio, days in itertools.product(
        OPEN_PIPELINE, itertools.product((False, True), repeat=4), (0.1, 1.0, 8.0), (0.5, 10, 200)
    ):
        c = ctx(
            has_champion=flags[0],
            unresolved_blocker=flags[1],
            icp_match=flags[2],
            engaged_recently=flags[3],
            size_ratio=ratio,
        )
        probs = next_stage_probabilities(GT, stage, c, days)
        assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-12)
        assert all(p > 0 for p in probs.values())


def test_allowed_moves_per_stage() -> None:
    lead = next_stage_probabilities(GT, Stage.LEAD, BASE, 5)
    assert set(lead) == {Stage.QUALIFICATION, Stage.DISCOVERY, Stage.STALLED, Stage.CLOSED_LOST}
    negotiation = next_stage_probabilities(GT, Stage.NEGOTIATION, BASE, 5)
    assert set(negotiation) == {
        Stage.CLOSED_WON,
        Stage.PROPOSAL,
        Stage.STALLED,
        Stage.CLOSED_LOST,
    }
    demo = next_stage_probabilities(GT, Stage.DEMO, BASE, 5)
    assert set(demo) == {
        Stage.PROPOSAL,
        Stage.NEGOTIATION,
        Stage.DISCOVERY,
        Stage.STALLED,
        Stage.CLOSED_LOST,
    }


def test_stalled_revives_to_the_stage_it_stalled_from_or_is_lost() -> None:
    probs = next_stage_probabilities(GT, Stage.STALLED, BASE, 30, stalled_from=Stage.DEMO)
    assert set(probs) == {Stage.DEMO, Stage.CLOSED_LOST}
    with pytest.raises(ValueError, match="stalled from"):
        next_stage_probabilities(GT, Stage.STALLED, BASE, 30)


def test_closed_stages_have_no_next_stage() -> None:
    with pytest.raises(ValueError, match="closed"):
        next_stage_probabilities(GT, Stage.CLOSED_WON, BASE, 1)


@pytest.mark.parametrize("stage", OPEN_PIPELINE)
def test_context_moves_advance_in_the_documented_directions(stage: Stage) -> None:
    days = GT.params(stage).mean_dwell_days

    def advance(c: Context, d: float = days) -> float:
        return next_stage_probabilities(GT, stage, c, d)[advance_target(stage)]

    def lose(c: Context) -> float:
        return next_stage_probabilities(GT, stage, c, days)[Stage.CLOSED_LOST]

    base = advance(BASE)
    assert 0.08 <= advance(ctx(has_champion=True)) - base <= 0.30
    assert lose(ctx(has_champion=True)) < lose(BASE)
    assert advance(ctx(unresolved_blocker=True)) < base - 0.08
    assert lose(ctx(unresolved_blocker=True)) > lose(BASE)
    assert advance(ctx(icp_match=True)) > base
    assert advance(ctx(engaged_recently=True)) > base
    assert advance(ctx(size_ratio=5.0)) < base < advance(ctx(size_ratio=0.2))
    assert advance(BASE, 4 * days) < base < advance(BASE, days / 4)


def test_dwell_is_shorter_when_engaged_and_longer_for_large_deals() -> None:
    def mean(c: Context) -> float:
        shape, scale = dwell_distribution(GT, Stage.DISCOVERY, c)
        return shape * scale

    assert mean(BASE) == pytest.approx(GT.params(Stage.DISCOVERY).mean_dwell_days)
    assert mean(ctx(engaged_recently=True)) < mean(BASE) < mean(ctx(size_ratio=4.0))
    assert (
        dwell_distribution(GT, Stage.DISCOVERY, BASE)[0] == GT.params(Stage.DISCOVERY).dwell_shape
    )


def test_parameters_round_trip_through_json() -> None:
    assert from_json_dict(to_json_dict(GT)) == GT
