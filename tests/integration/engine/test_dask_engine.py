"""The pipeline forecast and the back-test give the same numbers on a two-worker Dask cluster
as in this process, however the deals are split (per-deal random streams)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from pie.adapters.dask_engine import DaskEngine, dask_engine
from pie.mining import columns
from pie.mining.fit import fit_columns
from pie.simulation.backtest import as_columns, run_backtest
from pie.simulation.baselines import default_baselines
from pie.simulation.calibration import CalibratedForecaster
from pie.simulation.engine import IN_PROCESS, Engine
from pie.simulation.forecaster import MarkovForecaster
from pie.simulation.pipeline import Period, pipeline_forecast_by_deal
from pie.simulation.state import deal_states
from pie.simulation.streams import generator
from tests.unit.mining.gt_world import sample_world


@pytest.fixture(scope="module")
def engine() -> Iterator[DaskEngine]:
    with dask_engine(workers=2, processes=False) as running:
        yield running


@pytest.fixture(scope="module")
def deals(tmp_path_factory: pytest.TempPathFactory) -> columns.DealColumns:
    histories, _, _ = sample_world(tmp_path_factory.mktemp("w"), deals=400, seed=8)
    return as_columns(histories)


def _pipeline(deals: columns.DealColumns, engine: Engine, part_deals: int) -> object:
    end = columns.data_end(deals)
    assert end is not None
    as_of = end + timedelta(seconds=1)
    model = fit_columns(deals, as_of=as_of)
    states = deal_states(deals, model, as_of=as_of)
    periods = [Period("q", as_of.date(), as_of.date() + timedelta(days=90))]
    return pipeline_forecast_by_deal(
        model,
        states,
        periods,
        as_of=as_of,
        runs=300,
        rng=generator(3),
        chunk_paths=3_000,  # 10 deals a chunk: many chunks and parts
        engine=engine,
        part_deals=part_deals,
    )


def test_the_pipeline_forecast_is_the_same_on_dask(
    deals: columns.DealColumns, engine: DaskEngine
) -> None:
    local = _pipeline(deals, IN_PROCESS, part_deals=10**9)
    assert _pipeline(deals, engine, part_deals=40) == local
    assert _pipeline(deals, engine, part_deals=70) == local  # rounded to whole chunks


def test_the_backtest_is_the_same_on_dask(deals: columns.DealColumns, engine: DaskEngine) -> None:
    end = columns.data_end(deals)
    assert end is not None
    cutoffs = [end - timedelta(days=d) for d in (200, 120)]

    def report(on: Engine) -> dict[str, object]:
        return run_backtest(
            deals,
            cutoffs=cutoffs,
            horizon_days=None,
            model=CalibratedForecaster(
                lambda: MarkovForecaster(runs=200, seed=2, engine=on, part_deals=25)
            ),
            baselines=default_baselines(on),
        ).to_dict()

    local, remote = report(IN_PROCESS), report(engine)
    assert remote == local
    assert local["n_forecast"] and isinstance(local["brier"], float)
