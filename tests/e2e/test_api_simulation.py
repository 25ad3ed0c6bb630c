"""Simulation and forecast endpoints: seed 004's shapes, and no way into another tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import build
from pie.config import Settings
from pie.domain.model import EntityKind
from pie.entrypoints.api.app import create_app
from pie.importing import import_file
from pie.sample import generate


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api-sim") / "world.json"
    generate(out, deals=500, seed=21, conversations=False)
    return out


@dataclass
class Api:
    client: httpx.AsyncClient
    key_a: str
    open_a: str  # an open deal of tenant A
    open_b: str  # an open deal of tenant B

    def a(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key_a}"}


@pytest_asyncio.fixture
async def api(db: Any, sample: Path) -> AsyncIterator[Api]:
    container = build(Settings(database_url=db.url))
    made_a, made_b = await db.new_tenant("sim-a"), await db.new_tenant("sim-b")
    open_ids = []
    for made in (made_a, made_b):
        await import_file(container.uow(made.tenant.id), sample)
        async with container.uow(made.tenant.id) as uow:
            refs = await uow.refs.resolve(EntityKind.DEAL, "sample", ["D000500", "D000499"])
            deals = [await uow.deals.get(i) for i in refs.values()]
        open_ids.append(next(str(d.id) for d in deals if d is not None and d.is_open))
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        yield Api(client, made_a.api_key, open_ids[0], open_ids[1])
    await container.aclose()


async def test_simulate_answers_in_seed_004s_shape(api: Api) -> None:
    body = {
        "deal_id": api.open_a,
        "scenario": {"type": "add_champion", "params": {"name": "Ana", "title": "VP Eng"}},
        "n_simulations": 2000,
    }
    r = await api.client.post("/api/simulate", json=body, headers=api.a())
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) >= {"baseline", "modified", "delta", "confidence"}
    assert set(out["baseline"]) == {"p_win", "days"}
    assert out["confidence"] == pytest.approx(0.95)


async def test_scenarios_and_deals_are_checked(api: Api) -> None:
    bad = {"deal_id": api.open_a, "scenario": {"type": "teleport"}, "n_simulations": 500}
    r = await api.client.post("/api/simulate", json=bad, headers=api.a())
    assert r.status_code == 422
    assert "unknown scenario" in r.json()["detail"]
    theirs = {"deal_id": api.open_b, "scenario": {"type": "add_champion"}, "n_simulations": 500}
    r = await api.client.post("/api/simulate", json=theirs, headers=api.a())
    assert r.status_code == 404
    r = await api.client.get(f"/api/deals/{api.open_b}/forecast", headers=api.a())
    assert r.status_code == 404
    r = await api.client.post("/api/simulate", json=theirs)
    assert r.status_code == 401


async def test_deal_and_pipeline_forecasts(api: Api) -> None:
    r = await api.client.get(
        f"/api/deals/{api.open_a}/forecast", params={"runs": 1000}, headers=api.a()
    )
    assert r.status_code == 200, r.text
    f = r.json()
    assert [s["name"] for s in f["scenarios"]] == ["current_trajectory", "best_case", "worst_case"]
    assert all({"action", "impact"} <= set(rec) for rec in f["recommendations"])
    r = await api.client.get(
        "/api/forecast/pipeline", params={"period": "2026Q4", "runs": 500}, headers=api.a()
    )
    assert r.status_code == 200, r.text
    (q4,) = r.json()["periods"]
    assert q4["p10"] <= q4["p50"] <= q4["p90"]
