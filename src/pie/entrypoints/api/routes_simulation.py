"""Simulation, forecasts and the mined process (seed 004's API shapes, typed).

Every request names its deal and scenario first: an unknown deal or scenario is answered
before the tenant's model is fitted. The work itself (fit and simulation) runs through the
simulation gate (``limits.SimulationGate``): a few at once, a few waiting, the rest 429."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pie.domain.model import EntityKind
from pie.entrypoints.api.bodies import SimulateIn
from pie.entrypoints.api.deps import CacheDep, GateDep, UowDep
from pie.entrypoints.api.errors import responses
from pie.entrypoints.api.params import (
    AsOf,
    DealRef,
    ForecastRuns,
    Periods,
    PipelineRuns,
    Seed,
)
from pie.services import process as process_svc
from pie.services import simulation as svc
from pie.services.refs import resolve_id
from pie.services.schemas import (
    DealForecastRead,
    PipelineForecastRead,
    ProcessRead,
    ScenarioResultRead,
)

router = APIRouter(prefix="/api", responses=responses(401, 422, 429))


@router.post("/simulate", tags=["simulation"], responses=responses(404))
async def simulate(
    body: SimulateIn, uow: UowDep, cache: CacheDep, gate: GateDep
) -> ScenarioResultRead:
    """Baseline against the scenario for one deal, with common random numbers."""
    deal_id = await resolve_id(uow, EntityKind.DEAL, body.deal_id)
    async with gate.slot():
        result = await svc.simulate_deal(
            uow,
            deal_id,
            scenario=body.scenario.spec(),
            runs=body.n_simulations,
            seed=body.seed,
            as_of=body.as_of,
            cache=cache,
        )
    assert isinstance(result, ScenarioResultRead)
    return result


@router.get("/deals/{deal_id}/forecast", tags=["simulation"], responses=responses(404))
async def deal_forecast(
    deal_id: DealRef,
    uow: UowDep,
    cache: CacheDep,
    gate: GateDep,
    runs: ForecastRuns = 10_000,
    seed: Seed = 0,
    as_of: AsOf = None,
) -> DealForecastRead:
    """The deal's current trajectory, best and worst case, and recommendations ranked by
    their simulated impact."""
    resolved = await resolve_id(uow, EntityKind.DEAL, deal_id)
    async with gate.slot():
        return await svc.forecast_deal(
            uow, resolved, runs=runs, seed=seed, as_of=as_of, cache=cache
        )


@router.get("/forecast/pipeline", tags=["simulation"])
async def pipeline_forecast(
    uow: UowDep,
    cache: CacheDep,
    gate: GateDep,
    period: Periods = None,
    runs: PipelineRuns = 2_000,
    seed: Seed = 0,
    as_of: AsOf = None,
    deals: Annotated[
        bool, Query(description="Also list every open deal's P(win), close and value")
    ] = False,
) -> PipelineForecastRead:
    """Won value per period over all open deals: P10/P50/P90, expected value and wins; with
    `deals=true`, every open deal, sorted by its expected value in the first period."""
    async with gate.slot():
        return await svc.forecast_pipeline(
            uow, period or [], runs=runs, seed=seed, as_of=as_of, deals=deals, cache=cache
        )


@router.get("/process", tags=["process"])
async def process(uow: UowDep, cache: CacheDep, gate: GateDep, as_of: AsOf = None) -> ProcessRead:
    """The mined stage process: transition table, time in stage, context effects and whether
    the data suffices for them."""
    async with gate.slot():
        return await process_svc.process(uow, as_of=as_of, cache=cache)
