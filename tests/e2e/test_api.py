"""The HTTP API on a real database: authentication and tenant isolation, tried as an attacker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import Container, build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from tests.e2e.seed import Seeded, seed_tenant


@dataclass
class World:
    client: httpx.AsyncClient
    key_a: str
    key_b: str
    a: Seeded
    b: Seeded
    container: Container
    tenant_a: UUID

    def as_a(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key_a}"}


@pytest_asyncio.fixture
async def world(db: Any) -> AsyncIterator[World]:
    container = build(Settings(database_url=db.url))
    made_a = await container.tenants.create(f"api-a-{id(container)}")
    made_b = await container.tenants.create(f"api-b-{id(container)}")
    a = await seed_tenant(container.uow(made_a.tenant.id), "A")
    b = await seed_tenant(container.uow(made_b.tenant.id), "B")
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        yield World(client, made_a.api_key, made_b.api_key, a, b, container, made_a.tenant.id)
    await container.aclose()


async def test_health_answers_without_a_key(world: World) -> None:
    r = await world.client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
async def test_deals_need_a_valid_key(world: World, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = await world.client.get("/api/deals", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_lists_only_the_callers_deals(world: World) -> None:
    r = await world.client.get("/api/deals", headers=world.as_a(), params={"limit": 500})
    assert r.status_code == 200
    body = r.json()
    ids = {d["id"] for d in body["items"]}
    assert ids == {str(i) for i in world.a.deal_ids.values()}
    assert body["total"] == 3
    assert not ids & {str(i) for i in world.b.deal_ids.values()}


async def test_another_tenants_deal_and_account_are_not_found(world: World) -> None:
    for deal_id in world.b.deal_ids.values():
        r = await world.client.get(f"/api/deals/{deal_id}", headers=world.as_a())
        assert r.status_code == 404
    r = await world.client.get(f"/api/accounts/{world.b.account_id}", headers=world.as_a())
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "code": "not_found",
            "message": f"account {world.b.account_id} not found",
            "field": None,
            "record": None,
        }
    }
    r = await world.client.get(
        "/api/deals", headers=world.as_a(), params={"account_id": str(world.b.account_id)}
    )
    assert r.json()["items"] == []


async def test_filters_and_pages(world: World) -> None:
    r = await world.client.get("/api/deals", headers=world.as_a(), params={"open": "true"})
    assert {d["name"] for d in r.json()["items"]} == {"A open-demo", "A open-negotiation"}
    r = await world.client.get("/api/deals", headers=world.as_a(), params={"stage": "negotiation"})
    assert [d["name"] for d in r.json()["items"]] == ["A open-negotiation"]
    r = await world.client.get("/api/deals", headers=world.as_a(), params={"limit": 1, "offset": 1})
    body = r.json()
    assert (len(body["items"]), body["total"]) == (1, 3)
    r = await world.client.get("/api/deals", headers=world.as_a(), params={"stage": "bogus"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "stage.0")
    assert "stage.0: Input should be" in error["message"]


async def test_records_are_named_by_source_id_too(world: World) -> None:
    r = await world.client.get("/api/deals/test:A-won", headers=world.as_a())
    assert r.status_code == 200, r.text
    assert r.json()["deal"]["id"] == str(world.a.deal_ids["won"])
    r = await world.client.get("/api/accounts/test:A", headers=world.as_a())
    assert r.json()["account"]["id"] == str(world.a.account_id)
    r = await world.client.get("/api/deals", headers=world.as_a(), params={"account_id": "test:A"})
    assert r.json()["total"] == 3
    for path in ("/api/deals/test:B-won", "/api/accounts/test:B", "/api/deals/no-such-thing"):
        r = await world.client.get(path, headers=world.as_a())
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    r = await world.client.get("/api/nowhere", headers=world.as_a())
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


async def test_deal_detail_has_transitions_and_account(world: World) -> None:
    deal_id = world.a.deal_ids["won"]
    r = await world.client.get(f"/api/deals/{deal_id}", headers=world.as_a())
    assert r.status_code == 200
    body = r.json()
    assert body["deal"]["outcome"] == "won"
    assert body["account"]["name"] == "A Corp"
    assert [t["to_stage"] for t in body["transitions"]] == ["lead", "closed_won"]
    r = await world.client.get(f"/api/accounts/{world.a.account_id}", headers=world.as_a())
    assert len(r.json()["deals"]) == 3


async def test_openapi_docs_are_served(world: World) -> None:
    r = await world.client.get("/openapi.json")
    assert r.status_code == 200
    assert "/api/deals/{deal_id}" in r.json()["paths"]
