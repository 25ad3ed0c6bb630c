"""Simulation and forecast endpoints: seed 004's shapes, and no way into another tenant."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    open_a_ref: str  # open_a as SOURCE:EXTERNAL_ID

    def a(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key_a}"}


@pytest_asyncio.fixture
async def api(db: Any, sample: Path) -> AsyncIterator[Api]:
    container = build(Settings(database_url=db.url))
    made_a, made_b = await db.new_tenant("sim-a"), await db.new_tenant("sim-b")
    open_refs = []
    for made in (made_a, made_b):
        await import_file(container.uow(made.tenant.id), sample)
        async with container.uow(made.tenant.id) as uow:
            refs = await uow.refs.resolve(EntityKind.DEAL, "sample", ["D000500", "D000499"])
            deals = {x: await uow.deals.get(i) for x, i in refs.items()}
        open_refs.append(next((d.id, x) for x, d in deals.items() if d and d.is_open))
    (open_a, ref_a), (open_b, _) = open_refs
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        yield Api(client, made_a.api_key, str(open_a), str(open_b), f"sample:{ref_a}")
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
    assert r.json()["error"]["code"] == "invalid_input"
    assert "unknown scenario" in r.json()["error"]["message"]
    theirs = {"deal_id": api.open_b, "scenario": {"type": "add_champion"}, "n_simulations": 500}
    r = await api.client.post("/api/simulate", json=theirs, headers=api.a())
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = await api.client.get(f"/api/deals/{api.open_b}/forecast", headers=api.a())
    assert r.status_code == 404
    r = await api.client.post("/api/simulate", json=theirs)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


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


async def test_unknown_deals_and_scenarios_are_refused_before_any_fit(
    api: Api, fits: list[object]
) -> None:
    unknown = str(uuid.uuid4())
    for method, path, body in (
        ("GET", f"/api/deals/{unknown}/forecast", None),
        ("GET", "/api/deals/sample:NOPE/forecast", None),
        ("GET", "/api/deals/nonsense/forecast", None),
        ("POST", "/api/simulate", {"deal_id": unknown, "scenario": {"type": "add_champion"}}),
        ("POST", "/api/simulate", {"deal_id": api.open_a, "scenario": {"type": "teleport"}}),
        ("GET", "/api/forecast/pipeline?period=next%20spring", None),
    ):
        r = await api.client.request(method, path, json=body, headers=api.a())
        assert r.status_code in (404, 422), (path, r.text)
        assert set(r.json()) == {"error"}
    assert fits == []


async def test_source_ids_name_deals_as_in_the_cli(api: Api) -> None:
    r = await api.client.get("/api/deals/sample:D000500", headers=api.a())
    assert r.status_code == 200, r.text
    by_ref = r.json()["deal"]["id"]
    r = await api.client.get(f"/api/deals/{by_ref}", headers=api.a())
    assert r.json()["deal"]["external_ids"] == {"sample": "D000500"}
    r = await api.client.get(
        f"/api/deals/{api.open_a}/forecast", params={"runs": 300}, headers=api.a()
    )
    ref = api.open_a_ref
    r2 = await api.client.get(f"/api/deals/{ref}/forecast", params={"runs": 300}, headers=api.a())
    assert r2.status_code == 200, r2.text
    assert r2.json() == r.json()
    body = {"deal_id": ref, "scenario": {"type": "custom", "params": {"has_champion": True}}}
    r = await api.client.post("/api/simulate", json={**body, "n_simulations": 300}, headers=api.a())
    assert r.status_code == 200, r.text
    assert r.json()["deal_id"] == api.open_a


async def test_forecasts_and_simulations_take_as_of(api: Api) -> None:
    r = await api.client.get("/api/forecast/pipeline", params={"runs": 200}, headers=api.a())
    latest = datetime.fromisoformat(r.json()["as_of"])
    earlier = (latest - timedelta(days=30)).replace(microsecond=0)
    for method, path, body in (
        ("GET", "/api/forecast/pipeline", None),
        ("GET", "/api/process", None),
    ):
        r = await api.client.request(
            method,
            path,
            params={"as_of": earlier.isoformat(), "runs": 200},
            json=body,
            headers=api.a(),
        )
        assert r.status_code == 200, r.text
        assert datetime.fromisoformat(r.json()["as_of"]) == earlier
    r = await api.client.get(
        "/api/forecast/pipeline", params={"as_of": "2011/12/01"}, headers=api.a()
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "as_of"


async def test_pipeline_lists_every_open_deal_from_one_simulation(
    api: Api, fits: list[object]
) -> None:
    r = await api.client.get(
        "/api/forecast/pipeline",
        params={"period": ["2026Q3", "2026Q4"], "runs": 400, "deals": "true"},
        headers=api.a(),
    )
    assert r.status_code == 200, r.text
    assert len(fits) == 1
    out = r.json()
    q3, q4 = out["periods"]
    deals = out["deals"]
    assert len(deals) == q3["open_deals"] > 10
    firsts = [d["periods"][0]["expected_value"] for d in deals]
    assert firsts == sorted(firsts, reverse=True)
    # the deals add up to the pipeline: the same runs, not separate simulations
    for k, period in enumerate((q3, q4)):
        total = sum(d["periods"][k]["expected_value"] for d in deals)
        assert total == pytest.approx(period["expected_value"], rel=1e-9)
        wins = sum(d["periods"][k]["p_win"] for d in deals)
        assert wins == pytest.approx(period["expected_wins"], rel=1e-9)
    for d in deals:
        assert 0.0 <= d["p_win"] <= 1.0
        assert d["expected_value"] == pytest.approx(d["value"] * d["p_win"])
        assert sum(p["p_win"] for p in d["periods"]) <= d["p_win"] + 1e-12
        if d["p_win"] > 0:
            assert date.fromisoformat(d["expected_close"]) >= date.fromisoformat(out["as_of"][:10])
    plain = await api.client.get(
        "/api/forecast/pipeline", params={"period": "2026Q3", "runs": 400}, headers=api.a()
    )
    assert plain.json()["deals"] is None
    assert plain.json()["periods"][0] == q3


async def test_process_is_the_mined_table(api: Api) -> None:
    r = await api.client.get("/api/process", headers=api.a())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["deals"] == 500
    assert out["sufficiency"]["level"] in ("full", "stage")
    shares: dict[str, float] = {}
    for t in out["transitions"]:
        shares[t["from_stage"]] = shares.get(t["from_stage"], 0.0) + t["share"]
    assert all(s == pytest.approx(1.0) for s in shares.values())
    assert {s["stage"] for s in out["stages"]} >= {"lead", "demo", "negotiation"}
    assert (await api.client.get("/api/process")).status_code == 401
