"""Mining, simulation, forecasts and back-tests over a tenant's store.

Every use case loads the tenant's deal histories, fits the process model on what is known at
``as_of`` and answers from it. ``as_of`` defaults to the newest event in the data (for a CRM
that syncs continuously that is about now; for an export or the sample world it is the moment
the data was taken), so a forecast never counts days that the data cannot have seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from pie.domain.errors import DealNotFound, InvalidInput
from pie.domain.history import DealHistory
from pie.mining import MiningConfig, ProcessModel, fit
from pie.mining.config import DEFAULT_CONFIG
from pie.mining.dfg import DirectlyFollows, discover_dfg
from pie.mining.eventlog_arrays import EventLog
from pie.mining.eventlog_import import read_event_log
from pie.mining.eventlog_mapping import load_mapping
from pie.mining.snapshot import as_of as snapshot_as_of
from pie.mining.snapshot import data_end
from pie.ports.uow import UnitOfWork
from pie.services.histories import load_histories
from pie.simulation import (
    DealForecast,
    DealSimulation,
    MarkovForecaster,
    PeriodForecast,
    ScenarioResult,
    deal_forecast,
    deal_state,
    parse_period,
    pipeline_forecast,
    simulate,
    simulate_scenario,
)
from pie.simulation.backtest import BacktestReport, run_backtest
from pie.simulation.baselines import default_baselines
from pie.simulation.calibration import CalibratedForecaster
from pie.simulation.streams import check_seed, generator

DEFAULT_RUNS = 10_000


@dataclass(frozen=True)
class World:
    """A tenant's histories as of a moment, with the model fitted on them."""

    histories: Sequence[DealHistory]
    as_of: datetime
    model: ProcessModel

    def history(self, deal_id: UUID) -> DealHistory:
        for h in self.histories:
            if h.deal.id == deal_id:
                return h
        raise DealNotFound(deal_id)

    def open_deals(self) -> list[DealHistory]:
        return [h for h in self.histories if h.deal.is_open]


@dataclass(frozen=True)
class Mined:
    world: World
    dfg: DirectlyFollows


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def load_world(
    uow: UnitOfWork, *, as_of: datetime | None = None, config: MiningConfig = DEFAULT_CONFIG
) -> World:
    return await world_of(await load_histories(uow), as_of=as_of, config=config)


async def world_of(
    histories: Sequence[DealHistory],
    *,
    as_of: datetime | None = None,
    config: MiningConfig = DEFAULT_CONFIG,
) -> World:
    """The histories as of ``as_of`` (default: just after the newest event), with the model
    fitted on them."""
    end = data_end(histories)
    if end is None:
        raise InvalidInput(
            "the tenant has no deals yet: import some first (pie import FILE, or pie demo)",
            field="deals",
        )
    moment = _aware(as_of) if as_of else end + timedelta(seconds=1)
    if moment <= end:
        histories = snapshot_as_of(histories, moment)
    # CPU-bound work runs in a worker thread so an API server stays responsive meanwhile
    model = await asyncio.to_thread(fit, histories, as_of=moment, config=config)
    return World(histories, moment, model)


async def mine(uow: UnitOfWork, *, as_of: datetime | None = None) -> Mined:
    return await mine_world(await load_world(uow, as_of=as_of))


async def mine_world(world: World) -> Mined:
    dfg = await asyncio.to_thread(lambda: discover_dfg(EventLog.from_histories(world.histories)))
    return Mined(world, dfg)


async def simulate_deal(
    uow: UnitOfWork,
    deal_id: UUID,
    *,
    scenario: str | None = None,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    as_of: datetime | None = None,
) -> DealSimulation | ScenarioResult:
    """A deal's simulated outcome; with a scenario, baseline vs modified with common random
    numbers."""
    world = await load_world(uow, as_of=as_of)
    state = deal_state(world.history(deal_id), world.model, as_of=world.as_of)
    rng = generator(seed)
    if scenario:
        return await asyncio.to_thread(
            simulate_scenario, world.model, state, scenario, runs=runs, rng=rng
        )
    return (await asyncio.to_thread(simulate, world.model, [state], runs=runs, rng=rng))[0]


async def forecast_deal(
    uow: UnitOfWork,
    deal_id: UUID,
    *,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    as_of: datetime | None = None,
) -> DealForecast:
    world = await load_world(uow, as_of=as_of)
    state = deal_state(world.history(deal_id), world.model, as_of=world.as_of)
    return await asyncio.to_thread(
        deal_forecast, world.model, state, runs=runs, rng=generator(seed)
    )


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
    periods: Sequence[str],
    *,
    runs: int = 2_000,
    seed: int = 0,
    as_of: datetime | None = None,
) -> tuple[World, list[PeriodForecast]]:
    """Won value per period across all open deals. No periods: the quarter of ``as_of`` and
    the next one."""
    world = await load_world(uow, as_of=as_of)
    return world, await forecast_world(world, periods, runs=runs, seed=seed)


async def forecast_world(
    world: World, periods: Sequence[str], *, runs: int = 2_000, seed: int = 0
) -> list[PeriodForecast]:
    wanted = [parse_period(p) for p in (periods or default_periods(world.as_of))]
    open_deals = world.open_deals()
    states = [deal_state(h, world.model, as_of=world.as_of) for h in open_deals]
    return await asyncio.to_thread(
        pipeline_forecast,
        world.model,
        states,
        wanted,
        as_of=world.as_of,
        runs=runs,
        rng=generator(seed),
    )


def pipeline_dict(world: World, forecasts: list[PeriodForecast]) -> dict[str, Any]:
    return {
        "as_of": world.as_of.isoformat(),
        "periods": [
            {
                "period": f.period.label,
                "start": f.period.start.isoformat(),
                "end": f.period.end.isoformat(),
                "open_deals": f.open_deals,
                "expected_wins": f.expected_wins,
                "expected_value": f.expected_value,
                "p10": f.p10,
                "p50": f.p50,
                "p90": f.p90,
            }
            for f in forecasts
        ],
    }


def default_cutoffs(histories: Sequence[DealHistory], count: int = 3) -> list[datetime]:
    """Cutoffs spread over the second half of the data, each leaving time to see outcomes."""
    end = data_end(histories)
    start = min((h.deal.created_at for h in histories), default=None)
    if end is None or start is None:
        raise InvalidInput("no deals to back-test: import some first", field="deals")
    span = end - start
    return [start + span * (0.5 + 0.3 * i / max(count - 1, 1)) for i in range(count)]


async def backtest(
    uow: UnitOfWork,
    *,
    cutoffs: Sequence[datetime] = (),
    horizon_days: int | None = None,
    runs: int = 2_000,
    seed: int = 0,
) -> BacktestReport:
    return await backtest_histories(
        await load_histories(uow),
        cutoffs=cutoffs,
        horizon_days=horizon_days,
        runs=runs,
        seed=seed,
    )


#: The tenant a log read without a store belongs to (ids only; forecasts do not depend on it).
LOG_TENANT = UUID(int=0)


async def backtest_log(
    log: Path,
    mapping: Path,
    *,
    cutoffs: Sequence[datetime] = (),
    horizon_days: int | None = None,
    runs: int = 2_000,
    seed: int = 0,
    sort_events: bool = True,
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
        histories, cutoffs=cutoffs, horizon_days=horizon_days, runs=runs, seed=seed
    )


async def backtest_histories(
    histories: Sequence[DealHistory],
    *,
    cutoffs: Sequence[datetime] = (),
    horizon_days: int | None = None,
    runs: int = 2_000,
    seed: int = 0,
) -> BacktestReport:
    check_seed(seed)
    chosen = [_aware(c) for c in cutoffs] or default_cutoffs(histories)
    return await asyncio.to_thread(
        run_backtest,
        histories,
        cutoffs=chosen,
        horizon_days=horizon_days,
        model=CalibratedForecaster(
            lambda: MarkovForecaster(runs=runs, seed=seed), horizon_days=horizon_days
        ),
        baselines=default_baselines(),
    )
