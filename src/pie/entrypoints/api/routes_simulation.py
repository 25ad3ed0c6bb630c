"""Simulation and forecasts (seed 004's API shapes)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pie.entrypoints.api.deps import UowDep
from pie.services import simulation as svc
from pie.simulation import ScenarioResult

router = APIRouter(prefix="/api", tags=["simulation"])

#: Parameters that describe a scenario for people and do not change the simulation.
DESCRIPTIVE = {"add_champion": {"name", "title"}}


class ScenarioIn(BaseModel):
    type: str = Field(examples=["add_champion"])
    params: dict[str, float | bool | str] = Field(default_factory=dict)

    def spec(self) -> str:
        ignore = DESCRIPTIVE.get(self.type, set())
        kept = [f"{k}={str(v).lower()}" for k, v in self.params.items() if k not in ignore]
        return self.type + (":" + ",".join(kept) if kept else "")


class SimulateIn(BaseModel):
    deal_id: UUID
    scenario: ScenarioIn
    n_simulations: int = Field(default=10_000, ge=100, le=200_000)
    seed: int = 0


@router.post("/simulate")
async def simulate(body: SimulateIn, uow: UowDep) -> dict[str, Any]:
    """Baseline vs scenario for one deal, with common random numbers:
    `{baseline: {p_win, days}, modified: {...}, delta: {...}, confidence, intervals, runs}`."""
    result = await svc.simulate_deal(
        uow, body.deal_id, scenario=body.scenario.spec(), runs=body.n_simulations, seed=body.seed
    )
    assert isinstance(result, ScenarioResult)
    return result.to_dict()


@router.get("/deals/{deal_id}/forecast")
async def deal_forecast(
    deal_id: UUID,
    uow: UowDep,
    runs: Annotated[int, Query(ge=100, le=100_000)] = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """`{scenarios: [current_trajectory, best_case, worst_case], recommendations: [...]}`."""
    forecast = await svc.forecast_deal(uow, deal_id, runs=runs, seed=seed)
    return forecast.to_dict()


@router.get("/forecast/pipeline")
async def pipeline_forecast(
    uow: UowDep,
    period: Annotated[list[str] | None, Query(description="2026Q1, 2026-03 or 2026")] = None,
    runs: Annotated[int, Query(ge=100, le=20_000)] = 2_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Won value per period over all open deals: P10/P50/P90, expected value and wins."""
    world, forecasts = await svc.forecast_pipeline(uow, period or [], runs=runs, seed=seed)
    return svc.pipeline_dict(world, forecasts)
