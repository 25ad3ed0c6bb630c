import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import Stage
from pie.mining.columns import DealColumns
from pie.mining.snapshot import as_of
from pie.simulation.backtest import BacktestReport, as_columns, run_backtest
from pie.simulation.baselines import (
    StageDefaultForecaster,
    StageWinRateForecaster,
    default_baselines,
)
from pie.simulation.forecaster import DealPrediction, MarkovForecaster
from tests.helpers_world import day, deal_history, random_world, rewrite_after

CUTOFF = day(300)
WON, LOST = Stage.CLOSED_WON, Stage.CLOSED_LOST


def _run(
    world: Sequence[DealHistory], cutoffs: Sequence[datetime], horizon: int | None = None
) -> BacktestReport:
    return run_backtest(
        world,
        cutoffs=cutoffs,
        horizon_days=horizon,
        model=MarkovForecaster(),
        baselines=default_baselines(),
    )


@pytest.fixture(scope="module")
def world() -> list[DealHistory]:
    return random_world(600, seed=11)


def test_changing_what_happened_after_the_cutoff_changes_no_forecast(
    world: list[DealHistory],
) -> None:
    rewritten = [rewrite_after(h, CUTOFF, n) for n, h in enumerate(world)]
    a = _run(world, [day(200), CUTOFF], horizon=90)
    b = _run(rewritten, [day(200), CUTOFF], horizon=90)

    results = [(a.model, b.model)] + [(a.baselines[k], b.baselines[k]) for k in a.baselines]
    for ra, rb in results:
        assert ra.forecasts, ra.name
        assert [f.prediction for f in ra.forecasts] == [f.prediction for f in rb.forecasts]
    # the outcomes did change, so the scores must
    assert a.model.pooled.brier != b.model.pooled.brier


def test_the_rebuilt_world_does_not_depend_on_the_future(world: list[DealHistory]) -> None:
    rewritten = [rewrite_after(h, CUTOFF, n) for n, h in enumerate(world)]
    assert as_of(rewritten, CUTOFF) == as_of(world, CUTOFF)


def test_open_deals_at_the_end_are_counted_as_censored(world: list[DealHistory]) -> None:
    report = _run(world, [day(450), day(520)])
    pooled = report.model.pooled
    end = report.data_end
    open_at_end = {h.deal.id for h in as_of(world, end + timedelta(seconds=1)) if h.deal.is_open}
    still_open = sum(
        1
        for cutoff in report.cutoffs
        for h in as_of(world, cutoff)
        if h.deal.is_open and h.deal.id in open_at_end
    )
    assert still_open > 0
    assert pooled.n_censored == still_open
    # without a horizon their outcome is unknown: counted, not scored
    assert pooled.n_censored_unscored == still_open
    assert pooled.n_scored == pooled.n_forecast - still_open
    for scores in report.baselines.values():
        assert scores.pooled.n_censored == still_open


def test_with_a_horizon_the_data_covers_censored_deals_are_scored(
    world: list[DealHistory],
) -> None:
    report = _run(world, [day(450)], horizon=60)  # data ends on day 600 > 450 + 60
    pooled = report.model.pooled
    assert pooled.n_censored > 0
    assert pooled.n_censored_unscored == 0
    assert pooled.n_scored == pooled.n_forecast


def test_the_report_has_every_figure_for_the_model_and_each_baseline(
    world: list[DealHistory],
) -> None:
    report = _run(world, [day(250), day(350)], horizon=120)
    doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    figures = {
        "brier",
        "log_loss",
        "ece",
        "auc",
        "reliability",
        "days_mae",
        "interval80_coverage",
        "n_forecast",
        "n_censored",
        "per_cutoff",
    }
    assert figures <= doc.keys()
    assert len(doc["reliability"]) == 10
    assert sum(b["count"] for b in doc["reliability"]) == doc["n_scored"]
    assert [c["cutoff"] for c in doc["per_cutoff"]] == [day(250).isoformat(), day(350).isoformat()]
    assert sum(c["n_forecast"] for c in doc["per_cutoff"]) == doc["n_forecast"]
    assert doc["baselines"].keys() == {"stage_default", "stage_win_rate", "markov"}
    for name, base in doc["baselines"].items():
        assert figures <= base.keys(), name
        assert base["n_forecast"] == doc["n_forecast"]
    assert 0.0 <= doc["brier"] <= 1.0


def test_stage_default_uses_the_deals_own_probability_at_the_cutoff() -> None:
    history = [
        deal_history("a", [(Stage.LEAD, 0, 10, 0.05), (WON, 5, 10, 1.0)]),
        deal_history("b", [(Stage.LEAD, 0, 10, None), (Stage.DEMO, 4, 10, 0.42), (WON, 50)]),
        deal_history("c", [(Stage.LEAD, 0, 10, None), (Stage.PROPOSAL, 4, 10, None), (LOST, 50)]),
    ]
    world = as_of(history, day(10))
    f = StageDefaultForecaster()
    f.fit(as_columns(world), as_of=day(10))
    open_deals = as_columns([h for h in world if h.deal.is_open])
    preds = f.predict(open_deals, as_of=day(10), horizon_days=None)
    assert [p.p_win for p in preds] == [0.42, 0.55]


def test_stage_win_rate_is_the_smoothed_share_won_through_the_stage() -> None:
    deals = [
        deal_history(f"w{i}", [(Stage.LEAD, i), (Stage.DEMO, i + 1), (WON, i + 2)])
        for i in range(3)
    ]
    deals += [deal_history(f"l{i}", [(Stage.LEAD, i), (LOST, i + 2)]) for i in range(7)]
    deals.append(deal_history("open", [(Stage.LEAD, 20), (Stage.DEMO, 21)]))
    f = StageWinRateForecaster()
    f.fit(as_columns(as_of(deals, day(30))), as_of=day(30))
    open_deal = as_columns(as_of([deals[-1]], day(30)))
    (p,) = f.predict(open_deal, as_of=day(30), horizon_days=None)
    # demo: 3 of 3 won, plus 5 pseudo-deals at demo's default 0.35
    assert p.p_win == pytest.approx((3 + 5 * 0.35) / (3 + 5))
    # remaining days from demo: every won deal closed 1 day after entering demo
    assert (p.expected_days, p.days_p10, p.days_p90) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("cutoff_day", [-5, 0, 700])
def test_a_cutoff_outside_the_data_is_refused(world: list[DealHistory], cutoff_day: float) -> None:
    first = min(h.deal.created_at for h in world)
    cutoff = first if cutoff_day == 0 else day(cutoff_day)
    with pytest.raises(InvalidInput, match="choose cutoffs after"):
        _run(world, [day(300), cutoff])


def test_a_backtest_needs_deals_and_cutoffs(world: list[DealHistory]) -> None:
    with pytest.raises(InvalidInput, match="no deals"):
        _run([], [day(300)])
    with pytest.raises(InvalidInput, match="at least one cutoff"):
        _run(world, [])


class _Liar:
    name = "liar"

    def fit(self, world: DealColumns, *, as_of: object) -> None:
        pass

    def predict(
        self, open_deals: DealColumns, *, as_of: object, horizon_days: int | None
    ) -> list[DealPrediction]:
        return [DealPrediction(i, 0.5, 1.0, 0.0, 2.0) for i in open_deals.deal_ids()[1:]]


def test_a_forecaster_that_skips_deals_is_caught(world: list[DealHistory]) -> None:
    with pytest.raises(ValueError, match="liar"):
        run_backtest(world, cutoffs=[day(300)], horizon_days=None, model=_Liar(), baselines={})


def test_a_cutoff_with_only_censored_deals_scores_nothing_and_says_so() -> None:
    history = [
        deal_history("a", [(Stage.LEAD, 0), (WON, 5)]),
        deal_history("b", [(Stage.LEAD, 1), (LOST, 6)]),
        deal_history("c", [(Stage.LEAD, 2), (Stage.DEMO, 20)]),
    ]
    report = run_backtest(
        history,
        cutoffs=[day(10)],
        horizon_days=None,
        model=StageWinRateForecaster(),
        baselines={"stage_default": StageDefaultForecaster()},
    )
    doc = report.to_dict()
    assert (doc["n_forecast"], doc["n_scored"], doc["n_censored"]) == (1, 0, 1)
    assert doc["brier"] is None
    assert doc["auc"] is None
    assert [b["count"] for b in doc["reliability"]] == [0] * 10
    assert doc["beats_baselines_on_brier"] == {"stage_default": False}


def test_stage_win_rate_with_a_horizon_counts_late_wins_as_misses() -> None:
    quick = [
        deal_history(f"q{i}", [(Stage.LEAD, i), (Stage.DEMO, i + 1), (WON, i + 2)])
        for i in range(3)
    ]
    slow = deal_history("slow", [(Stage.LEAD, 0), (Stage.DEMO, 1), (WON, 60)])
    still_open = deal_history("open", [(Stage.LEAD, 85), (Stage.DEMO, 90)])
    world = as_of([*quick, slow, still_open], day(100))
    f = StageWinRateForecaster()
    f.fit(as_columns(world), as_of=day(100))
    target = as_columns([world[-1]])
    (eventually,) = f.predict(target, as_of=day(100), horizon_days=None)
    (within_30,) = f.predict(target, as_of=day(100), horizon_days=30)
    # the open deal's own visit (10 days old) is unknown either way
    assert eventually.p_win == pytest.approx((4 + 5 * 0.35) / (4 + 5))
    assert within_30.p_win == pytest.approx((3 + 5 * 0.35) / (4 + 5))
