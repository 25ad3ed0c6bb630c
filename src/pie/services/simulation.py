"""Simulations, forecasts and back-tests over a tenant's store, answered in the shapes of
``pie.services.schemas``.

Every use case checks what it was asked (the deal exists, the scenario and periods parse)
before it loads the tenant's histories and fits the process model on what is known at
``as_of`` (see ``pie.services.world``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import numpy as np

from pie.domain.errors import DealNotFound, InvalidInput
from pie.domain.history import DealHistory
from pie.domain.model import Deal
from pie.mining import ProcessModel, columns
from pie.mining.columns import DealColumns
from pie.mining.eventlog_import import read_event_log
from pie.mining.eventlog_mapping import load_mapping
from pie.ports.uow import UnitOfWork
from pie.services.histories import load_history
from pie.services.model_cache import ModelCache
from pie.services.schemas import (
    BacktestRead,
    DealForecastRead,
    DealInPeriodRead,
    DealSimulationRead,
    OpenDealForecastRead,
    PeriodForecastRead,
    PipelineForecastRead,
    ScenarioResultRead,
)
from pie.services.world import World, aware
from pie.simulation import (
    DealState,
    MarkovForecaster,
    Period,
    PeriodForecast,
    deal_forecast,
    deal_state,
    parse_period,
    parse_scenario,
    simulate,
    simulate_scenario,
)
from pie.simulation.backtest import BacktestReport, as_columns, run_backtest
from pie.simulation.baselines import default_baselines
from pie.simulation.calibration import CalibratedForecaster
from pie.simulation.engine import IN_PROCESS, Engine
from pie.simulation.pipeline import DealContribution, pipeline_forecast_by_deal
from pie.simulation.streams import check_seed, generator

DEFAULT_RUNS = 10_000
PIPELINE_RUNS = 2_000


def rng_for(seed: int) -> np.random.Generator:
    """The generator a simulation draws its run key from; each deal then draws from its own
    stream (see pie.simulation.streams). Raises InvalidSeed for a seed out of range."""
    return generator(seed)


async def fitted(uow: UnitOfWork, *, as_of: datetime | None, cache: ModelCache | None) -> World:
    """The tenant's world, from ``cache`` (or the store's model cache) when nothing changed."""
    return await (cache or ModelCache()).world(uow, as_of=as_of)


async def deal_at(
    uow: UnitOfWork, deal_id: UUID, *, as_of: datetime | None, cache: ModelCache | None
) -> tuple[DealState, ProcessModel]:
    """The deal's state at the model's moment, and the model: the deal is read first (a
    missing one costs no fit), then the model from the cache, and nothing else."""
    history = await load_history(uow, deal_id)
    fitted = await (cache or ModelCache()).fitted(uow, as_of=as_of)
    known = fitted.known([history])
    if not known:  # created after the moment asked for
        raise DealNotFound(deal_id)
    return deal_state(known[0], fitted.model, as_of=fitted.as_of), fitted.model


async def simulate_deal(
    uow: UnitOfWork,
    deal_id: UUID,
    *,
    scenario: str | None = None,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    as_of: datetime | None = None,
    cache: ModelCache | None = None,
) -> DealSimulationRead | ScenarioResultRead:
    """A deal's simulated outcome; with a scenario, baseline against modified with common
    random numbers."""
    parsed = parse_scenario(scenario) if scenario else None
    rng = rng_for(seed)
    state, model = await deal_at(uow, deal_id, as_of=as_of, cache=cache)
    if parsed is not None:
        result = await asyncio.to_thread(
            simulate_scenario, model, state, parsed, runs=runs, rng=rng
        )
        return ScenarioResultRead.of(result, deal_id=deal_id, as_of=model.as_of)
    (sim,) = await asyncio.to_thread(simulate, model, [state], runs=runs, rng=rng)
    return DealSimulationRead.of(sim, as_of=model.as_of)


async def forecast_deal(
    uow: UnitOfWork,
    deal_id: UUID,
    *,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    as_of: datetime | None = None,
    cache: ModelCache | None = None,
) -> DealForecastRead:
    """The deal's current, best and worst case, and recommendations ranked by impact."""
    rng = rng_for(seed)
    state, model = await deal_at(uow, deal_id, as_of=as_of, cache=cache)
    forecast = await asyncio.to_thread(deal_forecast, model, state, runs=runs, rng=rng)
    return DealForecastRead.of(forecast, deal_id=deal_id, as_of=model.as_of, runs=runs)


def default_periods(moment: datetime, *, min_days_left: int = 30) -> list[str]:
    """The quarter ``moment`` is in (unless it ends within ``min_days_left`` days) and the
    quarter after it."""
    labels = []
    for step in range(3):
        q = (moment.month - 1) // 3 + step
        year, quarter = moment.year + q // 4, q % 4 + 1
        end = parse_period(f"{year}Q{quarter}").end
        if (end - moment.date()).days >= min_days_left:
            labels.append(f"{year}Q{quarter}")
    return labels[:2]


async def forecast_pipeline(
    uow: UnitOfWork,
    periods: Sequence[str] = (),
    *,
    runs: int = PIPELINE_RUNS,
    seed: int = 0,
    as_of: datetime | None = None,
    deals: bool = False,
    cache: ModelCache | None = None,
    engine: Engine = IN_PROCESS,
) -> PipelineForecastRead:
    """Won value per period across all open deals (no periods: the quarter of ``as_of`` and
    the next one); with ``deals``, every open deal's part in it. One fit, one simulation."""
    wanted = [parse_period(p) for p in periods]
    rng = rng_for(seed)
    world = await fitted(uow, as_of=as_of, cache=cache)
    wanted = wanted or [parse_period(p) for p in default_periods(world.as_of)]
    forecasts, contributions = await _simulate_pipeline(
        world, wanted, runs=runs, rng=rng, engine=engine
    )
    return PipelineForecastRead(
        as_of=world.as_of,
        runs=runs,
        periods=[PeriodForecastRead.of(f) for f in forecasts],
        deals=await _deal_rows(uow, world, wanted, contributions) if deals else None,
    )


async def forecast_world(
    world: World, periods: Sequence[str], *, runs: int = PIPELINE_RUNS, seed: int = 0
) -> list[PeriodForecast]:
    """The period forecasts of an already fitted world (the HTML report's)."""
    wanted = [parse_period(p) for p in (periods or default_periods(world.as_of))]
    forecasts, _ = await _simulate_pipeline(world, wanted, runs=runs, rng=rng_for(seed))
    return forecasts


async def _simulate_pipeline(
    world: World,
    periods: Sequence[Period],
    *,
    runs: int,
    rng: np.random.Generator,
    engine: Engine = IN_PROCESS,
) -> tuple[list[PeriodForecast], list[DealContribution]]:
    states = await asyncio.to_thread(world.open_states)
    return await asyncio.to_thread(
        pipeline_forecast_by_deal,
        world.model,
        states,
        periods,
        as_of=world.as_of,
        runs=runs,
        rng=rng,
        engine=engine,
    )


def _ref(deal: Deal) -> str:
    for source, external in sorted(deal.external_ids.items()):
        return f"{source}:{external}"
    return str(deal.id)


def _close_date(as_of: datetime, days: float) -> date | None:
    return (as_of + timedelta(days=days)).date() if np.isfinite(days) else None


async def _deal_rows(
    uow: UnitOfWork,
    world: World,
    periods: Sequence[Period],
    contributions: Sequence[DealContribution],
) -> list[OpenDealForecastRead]:
    """Every open deal, the largest expected value in the first period first."""
    async with uow:
        by_id = await uow.deals.get_many([c.deal_id for c in contributions])
    stage = {
        world.deals.deal_id(i): world.deals.stage_of(i)
        for i in np.flatnonzero(world.deals.is_open()).tolist()
    }
    rows = []
    for c in contributions:
        deal = by_id[c.deal_id]
        rows.append(
            OpenDealForecastRead(
                deal_id=c.deal_id,
                ref=_ref(deal),
                name=deal.name,
                stage=str(stage[c.deal_id]),
                value=c.value,
                p_win=c.p_win,
                expected_close=_close_date(world.as_of, c.median_days_to_win),
                expected_value=c.value * c.p_win,
                periods=[
                    DealInPeriodRead(period=p.label, p_win=pw, expected_value=c.value * pw)
                    for p, pw in zip(periods, c.p_win_in, strict=True)
                ],
            )
        )
    rows.sort(key=lambda r: (-r.periods[0].expected_value, -r.expected_value, r.name))
    return rows


def default_cutoffs(deals: DealColumns, count: int = 3) -> list[datetime]:
    """Cutoffs spread over the second half of the data, each leaving time to see outcomes."""
    end = columns.data_end(deals)
    start = columns.first_created(deals)
    if end is None or start is None:
        raise InvalidInput("no deals to back-test: import some first", field="deals")
    span = end - start
    return [start + span * (0.5 + 0.3 * i / max(count - 1, 1)) for i in range(count)]


async def backtest(
    uow: UnitOfWork,
    *,
    cutoffs: Sequence[datetime] = (),
    horizon_days: int | None = None,
    runs: int = PIPELINE_RUNS,
    seed: int = 0,
    engine: Engine = IN_PROCESS,
) -> BacktestRead:
    rng_for(seed)
    async with uow:
        deals = await uow.columns.read()
    report = await backtest_histories(
        deals,
        cutoffs=cutoffs,
        horizon_days=horizon_days,
        runs=runs,
        seed=seed,
        engine=engine,
    )
    return BacktestRead.of(report)


#: The tenant a log read without a store belongs to (ids only; forecasts do not depend on it).
LOG_TENANT = UUID(int=0)


async def backtest_log(
    log: Path,
    mapping: Path,
    *,
    cutoffs: Sequence[datetime] = (),
    horizon_days: int | None = None,
    runs: int = PIPELINE_RUNS,
    seed: int = 0,
    sort_events: bool = True,
    engine: Engine = IN_PROCESS,
) -> BacktestReport:
    """Back-test an XES or CSV event log read through a mapping file, with no store."""
    check_seed(seed)
    histories = await asyncio.to_thread(
        lambda: list(
            read_event_log(
                log, load_mapping(mapping), tenant_id=LOG_TENANT, sort_events=sort_events
            )
        )
    )
    return await backtest_histories(
        histories,
        cutoffs=cutoffs,
        horizon_days=horizon_days,
        runs=runs,
        seed=seed,
        engine=engine,
    )


async def backtest_histories(
    histories: DealColumns | Sequence[DealHistory],
    *,
    cutoffs: Sequence[datetime] = (),
    horizon_days: int | None = None,
    runs: int = PIPELINE_RUNS,
    seed: int = 0,
    engine: Engine = IN_PROCESS,
) -> BacktestReport:
    """The back-test of ``histories`` (columns, or objects as an event log gives them); the
    simulations run on ``engine``."""
    check_seed(seed)
    deals = as_columns(histories)
    chosen = [aware(c) for c in cutoffs] or default_cutoffs(deals)
    return await asyncio.to_thread(
        run_backtest,
        deals,
        cutoffs=chosen,
        horizon_days=horizon_days,
        model=CalibratedForecaster(
            lambda: MarkovForecaster(runs=runs, seed=seed, engine=engine),
            horizon_days=horizon_days,
        ),
        baselines=default_baselines(engine),
    )
