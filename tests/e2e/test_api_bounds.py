"""Every parameter is bounded at the edge: bad input is a 422 (or 413) in the one error body,
on SQLite and PostgreSQL alike, never a 500 from deeper down, and it is refused at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from tests.e2e.seed import seed_tenant

LIMIT = 4096  # PIE_MAX_BODY_BYTES of these tests


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, str]
    deal: str  # a deal of the caller's tenant


@pytest_asyncio.fixture
async def api(db: Any) -> AsyncIterator[Api]:
    container = build(Settings(database_url=db.url, max_body_bytes=LIMIT))
    made = await db.new_tenant("bounds")
    seeded = await seed_tenant(container.uow(made.tenant.id), "A")
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        headers = {"Authorization": f"Bearer {made.api_key}"}
        yield Api(client, headers, str(seeded.deal_ids["open-demo"]))
    await container.aclose()


def _error(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "record"}
    detail: dict[str, Any] = body["error"]
    return detail


@pytest.mark.parametrize("offset", [2**63, 2**64 + 1, 10**9 + 1, -1])
async def test_offsets_beyond_the_bound_are_refused(api: Api, offset: int) -> None:
    r = await api.client.get("/api/deals", params={"offset": offset}, headers=api.headers)
    assert _error(r)["field"] == "offset"


async def test_the_largest_offset_is_an_empty_page(api: Api) -> None:
    r = await api.client.get("/api/deals", params={"offset": 10**9}, headers=api.headers)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/deals?q=%00", "q"),
        ("/api/deals?q=a%00b", "q"),
        ("/api/deals?account_id=test%3A%00", "account_id"),
        ("/api/deals/%00", "deal_id"),
        ("/api/deals/test%3AA%00/forecast", "deal_id"),
        ("/api/accounts/%00", "account_id"),
        (f"/api/deals?q={'x' * 201}", "q"),
    ],
)
async def test_nul_characters_and_overlong_text_are_refused(
    api: Api, path: str, field: str
) -> None:
    r = await api.client.get(path, headers=api.headers)
    assert _error(r)["field"] == field


async def test_a_lone_surrogate_in_a_body_is_refused(api: Api) -> None:
    body = b'{"deal_id": "test:\\ud800", "scenario": {"type": "add_champion"}}'
    r = await api.client.post(
        "/api/simulate",
        content=body,
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert _error(r)["field"] == "deal_id"


async def test_thousands_of_periods_are_refused_before_any_work(
    api: Api, fits: list[object]
) -> None:
    params = {"period": ["2026Q1"] * 3000}
    r = await api.client.get("/api/forecast/pipeline", params=params, headers=api.headers)
    assert fits == []  # refused at the edge: no model fitted (what made it take seconds)
    detail = _error(r)
    assert detail["field"] == "period"
    assert "12" in detail["message"]


@pytest.mark.parametrize("period", ["0000", "1969", "3000Q1", "2026-13", "2026Q5", "soon"])
async def test_periods_out_of_range_are_refused(api: Api, period: str) -> None:
    r = await api.client.get(
        "/api/forecast/pipeline", params={"period": period}, headers=api.headers
    )
    assert _error(r)["field"].startswith("period")


@pytest.mark.parametrize(
    "as_of", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59", "1969-12-31"]
)
async def test_moments_out_of_range_are_refused(api: Api, as_of: str) -> None:
    for path in ("/api/forecast/pipeline", "/api/process", f"/api/deals/{api.deal}/forecast"):
        r = await api.client.get(path, params={"as_of": as_of}, headers=api.headers)
        assert _error(r)["field"] == "as_of", path
    body = {"deal_id": api.deal, "scenario": {"type": "add_champion"}, "as_of": as_of}
    r = await api.client.post("/api/simulate", json=body, headers=api.headers)
    assert _error(r)["field"] == "as_of"


@pytest.mark.parametrize("as_of", ["1777664", "-5", "1.5e9"])
async def test_moments_are_iso_text_not_timestamps(api: Api, as_of: str) -> None:
    r = await api.client.get("/api/process", params={"as_of": as_of}, headers=api.headers)
    assert "ISO 8601" in _error(r)["message"]
    document = f'{{"deal_id": "{api.deal}", "scenario": {{"type": "x"}}, "as_of": {as_of}}}'
    assert _error(await _post(api, document))["field"] == "as_of"


async def test_a_body_that_is_not_utf8_is_invalid_input(api: Api) -> None:
    headers = {**api.headers, "Content-Type": "application/json"}
    r = await api.client.post("/api/simulate", content=b"\xff\xfe{", headers=headers)
    detail = _error(r)
    assert (detail["code"], detail["field"]) == ("invalid_input", "body")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/forecast/pipeline", {"seed": -1}),
        ("/api/forecast/pipeline", {"seed": 2**63}),
        ("/api/forecast/pipeline", {"runs": 20_001}),
        ("/api/forecast/pipeline", {"runs": 99}),
        ("/api/deals/{deal}/forecast", {"runs": 50_001}),
        ("/api/deals/{deal}/forecast", {"seed": -5}),
        ("/api/deals", {"limit": 501}),
        ("/api/changes", {"since": 2**63}),
    ],
)
async def test_counts_and_seeds_out_of_range_are_refused(
    api: Api, path: str, params: dict[str, int]
) -> None:
    r = await api.client.get(path.format(deal=api.deal), params=params, headers=api.headers)
    (name,) = params
    assert _error(r)["field"] == name


async def _post(api: Api, document: str) -> httpx.Response:
    """POST /api/simulate with the JSON text as is (NaN and Infinity included)."""
    headers = {**api.headers, "Content-Type": "application/json"}
    return await api.client.post("/api/simulate", content=document.encode(), headers=headers)


@pytest.mark.parametrize(
    ("scenario", "key"),
    [
        ('{"type": "accelerate_demo", "params": {"days": NaN}}', "days"),
        ('{"type": "accelerate_demo", "params": {"days": Infinity}}', "days"),
        ('{"type": "accelerate_demo", "params": {"days": 1e308}}', "days"),
        ('{"type": "accelerate_demo", "params": {"days": "nan"}}', "days"),
        ('{"type": "accelerate_demo", "params": {"days": -3}}', "days"),
        ('{"type": "increase_touchpoints", "params": {"factor": -Infinity}}', "factor"),
        ('{"type": "custom", "params": {"size_ratio": 1e300}}', "size_ratio"),
        ('{"type": "custom", "params": {"days_since_activity": 1e9}}', "days_since_activity"),
        ('{"type": "custom", "params": {"has_champion": "maybe"}}', "has_champion"),
        ('{"type": "custom", "params": {"has_champion": "true,size_ratio=1e308"}}', "has_champion"),
        ('{"type": "custom", "params": {"teleport": 1}}', "teleport"),
        ('{"type": "add_champion", "params": {"name": "a\\u0000b"}}', "NUL"),
    ],
)
async def test_scenario_parameters_must_be_finite_and_in_range(
    api: Api, scenario: str, key: str
) -> None:
    document = f'{{"deal_id": "{api.deal}", "n_simulations": 500, "scenario": {scenario}}}'
    detail = _error(await _post(api, document))
    assert detail["field"] == "scenario"
    assert key in detail["message"]


@pytest.mark.parametrize(
    ("params", "spec"),
    [({"days": 7}, "accelerate_demo:days=7"), ({"days": "2.5"}, "accelerate_demo:days=2.5")],
)
async def test_scenario_parameters_in_range_are_simulated(
    api: Api, params: dict[str, Any], spec: str
) -> None:
    body = {
        "deal_id": api.deal,
        "n_simulations": 500,
        "scenario": {"type": "accelerate_demo", "params": params},
    }
    r = await api.client.post("/api/simulate", json=body, headers=api.headers)
    assert r.status_code == 200, r.text
    assert r.json()["scenario"] == spec


async def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    big = json.dumps({"deal_id": api.deal, "scenario": {"type": "x" * LIMIT}})
    detail = _error(await _post(api, big), 413)
    assert detail["code"] == "too_large"
    assert f"{LIMIT:,}" in detail["message"]
    # any route: the limit is the server's, not one endpoint's
    r = await api.client.request("GET", "/api/health", content=b"x" * (LIMIT + 1))
    assert _error(r, 413)["code"] == "too_large"


async def test_a_streamed_body_over_the_limit_is_refused(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"deal_id": "' + api.deal.encode() + b'", "scenario": {"type": "'
        for _ in range(LIMIT // 512 + 1):
            yield b"x" * 512
        yield b'"}}'

    r = await api.client.post(
        "/api/simulate",
        content=chunks(),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert _error(r, 413)["code"] == "too_large"


async def test_a_body_under_the_limit_is_read(api: Api) -> None:
    body = {"deal_id": api.deal, "scenario": {"type": "add_champion", "params": {"name": "A"}}}
    r = await api.client.post("/api/simulate", json=body, headers=api.headers)
    assert r.status_code != 413


async def test_an_overlong_key_is_unauthorized_without_a_lookup(api: Api) -> None:
    r = await api.client.get("/api/deals", headers={"Authorization": "Bearer pie_" + "x" * 5000})
    assert _error(r, 401)["code"] == "unauthorized"
