"""The miner against the sample world's known process (pie.sample.ground_truth)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pie.domain.stages import ALL_STAGES, OPEN_PIPELINE, Stage
from pie.mining.context import encode
from pie.mining.events import STAGE_INDEX, visit_table
from pie.sample.ground_truth import Context as TrueContext
from pie.sample.ground_truth import GroundTruth, next_stage_probabilities
from tests.unit.simulation.conftest import GtWorld


def _next(stage: Stage) -> Stage:
    i = OPEN_PIPELINE.index(stage)
    return OPEN_PIPELINE[i + 1] if i + 1 < len(OPEN_PIPELINE) else Stage.CLOSED_WON


@pytest.mark.parametrize("stage", OPEN_PIPELINE)
def test_p_advance_given_champion_matches_the_ground_truth(gt_world: GtWorld, stage: Stage) -> None:
    """Per stage and champion: the model's P(advance), averaged over the observed visits, equals
    the true process's P(advance) for the same visits (their true context and dwell) within
    3 standard errors."""
    histories, truth, as_of, model = gt_world
    table = visit_table(histories, as_of=as_of)
    visits = [v for d in truth for v in d["visits"]]
    icp = np.array([d["icp_match"] for d in truth for _ in d["visits"]])
    assert len(visits) == len(table)
    ctx = encode(
        table.champion, table.blocker, icp, table.value / model.median_value, table.recency,
        model.config,
    )  # fmt: skip
    nxt = STAGE_INDEX[_next(stage)]
    gt = GroundTruth()
    for champion in (False, True):
        rows = np.flatnonzero(
            (table.stage == STAGE_INDEX[stage]) & (table.dest >= 0) & (table.champion == champion)
        )
        mined = model.jump_probabilities(table.stage[rows], ctx[rows], np.zeros(rows.size))
        true = [
            next_stage_probabilities(
                gt,
                stage,
                TrueContext(
                    has_champion=visits[i]["champion"],
                    unresolved_blocker=visits[i]["blocker"],
                    icp_match=bool(icp[i]),
                    size_ratio=visits[i]["size_ratio"],
                    engaged_recently=visits[i]["engaged"],
                ),
                visits[i]["dwell_days"],
            ).get(ALL_STAGES[nxt], 0.0)
            for i in rows
        ]
        p_true = float(np.mean(true))
        se = math.sqrt(p_true * (1 - p_true) / rows.size)
        assert rows.size > 100
        assert abs(mined[:, nxt].mean() - p_true) < 3 * se, (stage, champion)


def test_icp_industries_are_inferred_from_win_rates(gt_world: GtWorld) -> None:
    *_, model = gt_world
    assert model.icp_industries == frozenset(GroundTruth().icp_industries)


def test_champion_raises_the_mined_advance_odds_at_every_stage(gt_world: GtWorld) -> None:
    *_, model = gt_world
    from pie.mining import Context

    for stage in OPEN_PIPELINE:
        with_c = model.next_stage_probabilities(stage, Context(has_champion=True, size_ratio=1.0))
        without = model.next_stage_probabilities(stage, Context(size_ratio=1.0))
        assert with_c.probabilities[_next(stage)] > without.probabilities[_next(stage)]


@pytest.mark.parametrize(
    ("factor", "truth"), [("has_champion", "champion_rate"), ("unresolved_blocker", "blocker_rate")]
)
def test_mined_arrival_rates_recover_the_ground_truth_within_their_intervals(
    gt_world: GtWorld, factor: str, truth: str
) -> None:
    _, _, _, model = gt_world
    assert model.arrivals is not None
    for params in GroundTruth().stages:
        rate, (lo, hi) = model.arrivals.stage_rate(factor, STAGE_INDEX[params.stage])
        assert lo <= getattr(params, truth) <= hi, (params.stage, rate, lo, hi)
    shrunk = model.arrivals.rates[0 if factor == "has_champion" else 1]
    assert np.all(shrunk >= 0) and np.all(np.isfinite(shrunk))
