from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import numpy as np
import pytest

from pie.domain.errors import InvalidInput
from pie.mining.calibration_map import CalibrationMap
from pie.simulation import (
    MarkovForecaster,
    PlainMarkovForecaster,
    deal_forecast,
    deal_state,
    parse_period,
    pipeline_forecast,
)
from pie.simulation.backtest import as_columns
from tests.unit.simulation.conftest import GtWorld

DOWN = CalibrationMap(((-0.6, 0.8), (-0.4, 1.0), (0.3, 1.0)), 500)


def test_a_deal_forecast_has_three_trajectories_and_ranked_recommendations(
    gt_world: GtWorld,
) -> None:
    histories, _, as_of, model = gt_world
    h = next(
        h for h in histories
        if h.deal.is_open and not model.context_of(h, as_of).has_champion
        and h.deal.stage.value in ("lead", "qualification", "discovery")
    )  # fmt: skip
    fc = deal_forecast(
        model, deal_state(h, model, as_of=as_of), runs=3000, rng=np.random.default_rng(0)
    )
    names = [t.name for t in fc.scenarios]
    assert names == ["current_trajectory", "best_case", "worst_case"]
    current, best, worst = fc.scenarios
    assert worst.p_win < current.p_win < best.p_win
    assert fc.recommendations
    gains = [r.result.delta.p_win for r in fc.recommendations]
    assert gains == sorted(gains, reverse=True)
    top = fc.recommendations[0]
    assert "win rate" in top.impact and top.result.delta.p_win_ci[0] <= top.result.delta.p_win
    body = fc.to_dict()
    assert body["recommendations"][0]["action"] == top.action


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_periods_parse(text: str, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.start, p.end) == (start, end)


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(InvalidInput, match="2026Q1"):
        parse_period("Q1 2026")


def test_pipeline_won_value_by_period_is_ordered(gt_world: GtWorld) -> None:
    histories, _, as_of, model = gt_world
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open]
    periods = [parse_period(p) for p in ("2026Q4", "2027Q1", "2027")]
    out = pipeline_forecast(
        model, states, periods, as_of=as_of, runs=2000, rng=np.random.default_rng(4)
    )
    for f in out:
        assert 0 <= f.p10 <= f.p50 <= f.p90
        assert f.expected_wins > 0
    assert out[2].expected_value <= sum(s.value for s in states)
    assert out[2].expected_value >= out[1].expected_value  # 2027 contains 2027Q1


def test_forecasters_predict_every_open_deal(gt_world: GtWorld) -> None:
    histories, _, as_of, _ = gt_world
    open_deals = [h for h in histories if h.deal.is_open][:30]
    for fc in (MarkovForecaster(runs=500), PlainMarkovForecaster(runs=500)):
        fc.fit(as_columns(histories), as_of=as_of)
        eventual = fc.predict(as_columns(open_deals), as_of=as_of, horizon_days=None)
        within = fc.predict(as_columns(open_deals), as_of=as_of, horizon_days=30)
        assert [p.deal_id for p in eventual] == [h.deal.id for h in open_deals]
        for e, w in zip(eventual, within, strict=True):
            assert 0 <= w.p_win <= e.p_win <= 1
            assert e.days_p10 <= e.expected_days * 3 and e.days_p10 <= e.days_p90


def test_win_shares_are_the_predictions_p_win_and_an_override_is_kept(gt_world: GtWorld) -> None:
    """The calibration map reads only each deal's P(win): PIE's forecaster gives it without
    its other figures, the same numbers as its predictions, with and without a horizon; a
    forecaster that overrides ``predict`` is asked through it."""
    from pie.simulation.forecaster import win_probabilities

    histories, _, as_of, _ = gt_world
    open_deals = as_columns([h for h in histories if h.deal.is_open][:40])
    fc = MarkovForecaster(runs=300, seed=2)
    fc.fit(as_columns(histories), as_of=as_of)
    for horizon in (None, 45):
        shares = win_probabilities(fc, open_deals, as_of=as_of, horizon_days=horizon)
        preds = fc.predict(open_deals, as_of=as_of, horizon_days=horizon)
        assert shares.tolist() == [p.p_win for p in preds]

    class Halved(MarkovForecaster):
        def predict(self, *args: Any, **kw: Any) -> Any:
            return [dataclasses.replace(p, p_win=p.p_win / 2) for p in super().predict(*args, **kw)]

    halved = Halved(runs=300, seed=2)
    halved.model = fc.model
    got = win_probabilities(halved, open_deals, as_of=as_of, horizon_days=None)
    eventual = fc.predict(open_deals, as_of=as_of, horizon_days=None)
    assert got.tolist() == [p.p_win / 2 for p in eventual]


def test_a_deal_forecasts_candidates_walked_together_as_each_alone(gt_world: GtWorld) -> None:
    """deal_forecast walks all its candidate states at once; each one's runs must be exactly
    those of a walk of that candidate alone (demo credit, arrivals and all)."""
    from pie.simulation.forecast import _walk_each, best_case_candidates, worst_case_candidates
    from pie.simulation.montecarlo import Starts, Tables, new_key, walk

    histories, _, as_of, model = gt_world
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:12]
    tables, credited = Tables.of(model), 0
    for state in states:
        cands = [s for _, s in best_case_candidates(state, model)]
        cands += [s for _, s in worst_case_candidates(state, model)[1:]]
        credited += sum(s.demo_credit > 0 for s in cands)
        key = new_key(np.random.default_rng(3))
        together = _walk_each(model, cands, runs=400, key=key)
        for cand, got in zip(cands, together, strict=True):
            alone = walk(tables, Starts.of(model, [cand]), runs=400, key=key)
            assert np.array_equal(got.won, alone.won)
            assert np.array_equal(got.days, alone.days, equal_nan=True)
    assert credited  # a candidate with demo credit walked beside ones without


def test_a_walk_is_the_same_in_any_blocks_of_runs(
    gt_world: GtWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A walk goes a block of runs at a time and merges the blocks once few paths are left;
    every path's outcome must be the one of a walk in one block, whatever the block size:
    a deal's scenarios (sharing its stream, so its uniforms), demo credit, arrivals and a
    calibration map included."""
    from pie.mining.calibration_map import GROUPS, CalibrationMap
    from pie.simulation import montecarlo
    from pie.simulation.forecast import best_case_candidates

    histories, _, as_of, fitted = gt_world
    tilted = CalibrationMap(tuple((0.2 * i - 0.3, 0.9) for i in range(len(GROUPS))))
    model = dataclasses.replace(fitted, calibration=tilted)
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:12]
    cands = [s for state in states for _, s in best_case_candidates(state, model)]
    assert any(s.demo_credit > 0 for s in cands)
    tables = montecarlo.Tables.of(model)
    assert tables.arrive is not None and tables.calibration is not None
    starts = montecarlo.Starts.of(model, cands)
    whole = montecarlo.walk(tables, starts, runs=300, key=5)
    for block in (7, 64, 1000):
        monkeypatch.setattr(montecarlo, "BLOCK_PATHS", block)
        got = montecarlo.walk(tables, starts, runs=300, key=5)
        assert np.array_equal(got.won, whole.won)
        assert np.array_equal(got.days, whole.days, equal_nan=True)


def test_the_first_row_above_a_draw_is_counted_exactly_in_any_rows() -> None:
    """A path's dwell bin and destination are the first of its row's values above its draw
    (``argmax``); the walk counts the values at or below the draw in each row's running
    maximum instead, which must give the same index for any rows: falling, flat or NaN."""
    from pie.simulation.montecarlo import _first_above, _rising

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, 9)).round(1)
    rows[rng.random(rows.shape) < 0.1] = np.nan
    rows[:10].sort(axis=1)
    index = rng.integers(0, 50, 5000)
    x = rng.normal(size=5000).round(1)  # ties with the rows' values too
    full = np.concatenate([rows, np.full((50, 1), np.inf)], axis=1)  # the implied last column
    expected = np.argmax(full[index] > x[:, None], axis=1)
    got = _first_above(_rising(rows).T.copy(), index, x)
    assert np.array_equal(got, expected)


def test_a_models_tables_are_laid_out_once(gt_world: GtWorld) -> None:
    """A warm forecast does no work in proportion to the model's size: its tables come from
    the last models' (another model object, even an equal one, gets its own)."""
    from pie.simulation.montecarlo import Tables

    model = gt_world[3]
    assert Tables.of(model) is Tables.of(model)
    assert Tables.of(dataclasses.replace(model)) is not Tables.of(model)


def test_a_walk_in_parts_of_runs_joined_then_calibrated_is_one_walk(gt_world: GtWorld) -> None:
    """A deal's forecast screens its candidates on their first runs and walks the finalists'
    other runs from there: the parts, joined and calibrated, must be exactly one walk of all
    the runs (a calibration map, demo credit and arrivals included)."""
    from pie.mining.calibration_map import GROUPS, CalibrationMap
    from pie.simulation import montecarlo
    from pie.simulation.forecast import best_case_candidates

    histories, _, as_of, fitted = gt_world
    tilted = CalibrationMap(tuple((0.2 * i - 0.3, 0.9) for i in range(len(GROUPS))))
    model = dataclasses.replace(fitted, calibration=tilted)
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:8]
    cands = [s for state in states for _, s in best_case_candidates(state, model)]
    tables, starts = montecarlo.Tables.of(model), montecarlo.Starts.of(model, cands)
    whole = montecarlo.walk(tables, starts, runs=500, key=9)
    head = montecarlo.walk(tables, starts, runs=120, key=9, calibrate=False)
    tail = montecarlo.walk(tables, starts, runs=380, key=9, first_run=120, calibrate=False)
    joined = montecarlo.Chunk(
        0, np.concatenate([head.won, tail.won]), np.concatenate([head.days, tail.days])
    )
    assert not np.array_equal(joined.won, whole.won)  # the map thins and adds wins
    montecarlo.calibrated(tables, starts, joined, key=9)
    assert np.array_equal(joined.won, whole.won)
    assert np.array_equal(joined.days, whole.days, equal_nan=True)


def test_a_screened_forecast_shows_full_simulations_of_near_best_candidates(
    gt_world: GtWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With many runs, a deal's candidates are screened on their first runs and only the
    finalists are simulated in full. Every trajectory and recommendation shown must be its
    candidate's full simulation, no change and every single change among them; the best and
    worst cases must be those of simulating every candidate in full, or within a near tie of
    them, and stay on either side of the current trajectory."""
    from pie.simulation import forecast
    from pie.simulation.forecast import (
        SCREEN_RUNS,
        _walk_each,
        best_case_candidates,
        worst_case_candidates,
    )
    from pie.simulation.montecarlo import new_key, walk

    walked: list[tuple[int, int]] = []  # (first run, candidates walked from it)

    def spy(tables: Any, starts: Any, **kw: Any) -> Any:
        walked.append((kw.get("first_run", 0), len(starts)))
        return walk(tables, starts, **kw)

    monkeypatch.setattr(forecast, "walk", spy)

    histories, _, as_of, fitted = gt_world
    model = dataclasses.replace(fitted, calibration=DOWN)
    states = [deal_state(h, model, as_of=as_of) for h in histories if h.deal.is_open][:30]
    runs, same, screened_out = 3 * SCREEN_RUNS, 0, 0
    for state in states:
        walked.clear()
        got = deal_forecast(model, state, runs=runs, rng=np.random.default_rng(4))
        (_, screened), (rest_from, finalists) = walked
        assert rest_from == SCREEN_RUNS
        screened_out += screened - finalists
        best, worst = best_case_candidates(state, model), worst_case_candidates(state, model)
        every = _walk_each(
            model,
            [s for _, s in best + worst[1:]],
            runs=runs,
            key=new_key(np.random.default_rng(4)),
        )
        p = {c: float(ch.won.mean()) for (c, _), ch in zip(best + worst[1:], every, strict=True)}
        current, top, bottom = got.scenarios
        assert current.p_win == p[()]
        assert top.p_win == p[top.changes] and bottom.p_win == p[bottom.changes]
        assert top.p_win >= current.p_win >= bottom.p_win
        for rec in got.recommendations:
            assert rec.result.modified.p_win == p[(rec.scenario,)]
        tie = 2.0 * np.sqrt(0.25 / runs)
        assert max(p[c] for c, _ in best) - top.p_win <= tie
        assert bottom.p_win - min(p[c] for c, _ in worst) <= tie
        same += top.p_win == max(p[c] for c, _ in best)
    assert screened_out > len(states)  # candidates left out of the full simulation
    assert same >= 0.9 * len(states)
