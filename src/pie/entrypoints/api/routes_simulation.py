"""Simulation, forecasts and the mined process (seed 004's API shapes, typed).

Every request names its deal and scenario first: an unknown deal or scenario is answered
before the tenant's model is fitted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from pie.domain.model import EntityKind
from pie.entrypoints.api.deps import CacheDep, UowDep
from pie.entrypoints.api.errors import responses
from pie.services import process as process_svc
from pie.services import simulation as svc
from pie.services.refs import resolve_id
from pie.services.schemas import (
    DealForecastRead,
    PipelineForecastRead,
    ProcessRead,
    ScenarioResultRead,
)

router = APIRouter(prefix="/api", responses=responses(401, 422))

#: Parameters that describe a scenario for people and do not change the simulation.
DESCRIPTIVE = {"add_champion": {"name", "title"}}

DEAL_REF = "A PIE deal id, or SOURCE:EXTERNAL_ID (e.g. salesforce:006Ho00000AbCdEIAV)"
AS_OF = "Answer with what was known then (default: just after the newest event in the data)"
DealRef = Annotated[str, Path(description=DEAL_REF, examples=["salesforce:006Ho00000AbCdEIAV"])]
AsOf = Annotated[datetime | None, Query(description=AS_OF)]
Seed = Annotated[int, Query(ge=0, le=2**63 - 1)]


class ScenarioIn(BaseModel):
    type: str = Field(examples=["add_champion"])
    params: dict[str, float | bool | str] = Field(default_factory=dict)

    def spec(self) -> str:
        ignore = DESCRIPTIVE.get(self.type, set())
        kept = [f"{k}={str(v).lower()}" for k, v in self.params.items() if k not in ignore]
        return self.type + (":" + ",".join(kept) if kept else "")


class SimulateIn(BaseModel):
    deal_id: str = Field(description=DEAL_REF)
    scenario: ScenarioIn
    n_simulations: int = Field(default=10_000, ge=100, le=200_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    as_of: datetime | None = Field(default=None, description=AS_OF)


@router.post("/simulate", tags=["simulation"], responses=responses(404))
async def simulate(body: SimulateIn, uow: UowDep, cache: CacheDep) -> ScenarioResultRead:
    """Baseline against the scenario for one deal, with common random numbers."""
    deal_id = await resolve_id(uow, EntityKind.DEAL, body.deal_id)
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
    runs: Annotated[int, Query(ge=100, le=100_000)] = 10_000,
    seed: Seed = 0,
    as_of: AsOf = None,
) -> DealForecastRead:
    """The deal's current trajectory, best and worst case, and recommendations ranked by
    their simulated impact."""
    resolved = await resolve_id(uow, EntityKind.DEAL, deal_id)
    return await svc.forecast_deal(uow, resolved, runs=runs, seed=seed, as_of=as_of, cache=cache)


@router.get("/forecast/pipeline", tags=["simulation"])
async def pipeline_forecast(
    uow: UowDep,
    cache: CacheDep,
    period: Annotated[
        list[str] | None, Query(description="2026Q1, 2026-03 or 2026 (repeatable)")
    ] = None,
    runs: Annotated[int, Query(ge=100, le=20_000)] = 2_000,
    seed: Seed = 0,
    as_of: AsOf = None,
    deals: Annotated[
        bool, Query(description="Also list every open deal's P(win), close and value")
    ] = False,
) -> PipelineForecastRead:
    """Won value per period over all open deals: P10/P50/P90, expected value and wins; with
    `deals=true`, every open deal, sorted by its expected value in the first period."""
    return await svc.forecast_pipeline(
        uow, period or [], runs=runs, seed=seed, as_of=as_of, deals=deals, cache=cache
    )


@router.get("/process", tags=["process"])
async def process(uow: UowDep, cache: CacheDep, as_of: AsOf = None) -> ProcessRead:
    """The mined stage process: transition table, time in stage, context effects and whether
    the data suffices for them."""
    return await process_svc.process(uow, as_of=as_of, cache=cache)
