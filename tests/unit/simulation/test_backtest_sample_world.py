"""Back-tests on a generated sample world (pie.sample), whose process PIE's model can learn."""

from datetime import UTC, datetime

import pytest

from pie.domain.history import DealHistory
from pie.mining.snapshot import as_of
from pie.simulation.backtest import BacktestReport, run_backtest
from pie.simulation.baselines import StageDefaultForecaster, StageWinRateForecaster
from pie.simulation.forecaster import MarkovForecaster, PlainMarkovForecaster
from tests.helpers_world import load_histories, rewrite_after
from tests.unit.mining.gt_world import sample_world

pytestmark = pytest.mark.slow

# the sample world's data ends on 2026-10-01 and its deals start two years before
CUTOFFS = (
    datetime(2025, 7, 1, tzinfo=UTC),
    datetime(2025, 12, 1, tzinfo=UTC),
    datetime(2026, 4, 1, tzinfo=UTC),
)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[DealHistory]]:
    """The same generated world read two ways: as pie/v1 gives it (stakeholders undated, so
    known only from each deal's last update) and with champions and blockers dated when the
    ground truth says they were found, as a CRM that dates stakeholders would."""
    tmp = tmp_path_factory.mktemp("sample")
    dated, _, _ = sample_world(tmp, deals=3000, seed=2026)
    return {"undated": load_histories(tmp / "world.json"), "dated": dated}


def _backtest(
    histories: list[DealHistory], cutoffs: tuple[datetime, ...], horizon: int | None
) -> BacktestReport:
    return run_backtest(
        histories,
        cutoffs=cutoffs,
        horizon_days=horizon,
        model=MarkovForecaster(),
        baselines={
            "stage_default": StageDefaultForecaster(),
            "stage_win_rate": StageWinRateForecaster(),
            "markov": PlainMarkovForecaster(),
        },
    )


@pytest.mark.parametrize(("stakeholders", "horizon"), [("undated", None), ("dated", 90)])
def test_the_model_beats_every_baseline_on_brier(
    worlds: dict[str, list[DealHistory]], stakeholders: str, horizon: int | None
) -> None:
    report = _backtest(worlds[stakeholders], CUTOFFS, horizon)
    pooled = report.model.pooled
    assert pooled.n_scored >= 300
    briers = {name: r.pooled.brier for name, r in report.baselines.items()}
    assert report.beats_baselines_on_brier() == dict.fromkeys(briers, True), (
        pooled.brier,
        briers,
    )


def test_no_forecast_of_the_sample_world_uses_the_future(
    worlds: dict[str, list[DealHistory]],
) -> None:
    world, cutoff = worlds["dated"], CUTOFFS[1]
    rewritten = [rewrite_after(h, cutoff, n) for n, h in enumerate(world)]
    assert as_of(rewritten, cutoff) == as_of(world, cutoff)

    a = _backtest(world, (cutoff,), 90)
    b = _backtest(rewritten, (cutoff,), 90)

    for ra, rb in [(a.model, b.model), *((a.baselines[k], b.baselines[k]) for k in a.baselines)]:
        assert [f.prediction for f in ra.forecasts] == [f.prediction for f in rb.forecasts]
    assert a.model.pooled.brier != b.model.pooled.brier
