"""Deal intelligence through the API: conversations in (and bad input refused with nothing
stored), the political map, a human override, plans and stage explanations; all in OpenAPI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID
from xml.etree import ElementTree

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import Container, build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from tests.unit.services.intel_world import BUYING, FOLLOW_UP, SELLER, email


@dataclass
class Api:
    client: httpx.AsyncClient
    key: str
    tenant: UUID
    container: Container

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def changes(self) -> int:
        async with self.container.uow(self.tenant) as uow:
            return await uow.changes.latest()


@pytest_asyncio.fixture
async def api(db: Any) -> AsyncIterator[Api]:
    container = build(Settings(database_url=db.url))
    made = await container.tenants.create(f"intel-api-{id(container)}")
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        yield Api(client, made.api_key, made.tenant.id, container)
    await container.aclose()


async def post(api: Api, content: str, **extra: object) -> httpx.Response:
    body = {"content": content, "seller_domains": [SELLER], **extra}
    return await api.client.post("/api/conversations", headers=api.auth, json=body)


async def test_conversations_map_override_plans_and_explain(api: Api) -> None:
    r = await post(api, email(BUYING))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["decision"]["action"] == "create" and first["created_deal"]
    budget = first["extraction"]["qualification"]["budget"]
    assert budget["evidence"]["quote"] in email(BUYING)
    deal, account = first["deal_id"], first["account_id"]
    r = await post(api, email(FOLLOW_UP, day="Mon, 9 Mar 2026 10:00:00 +0000"), deal_id=deal)
    assert r.status_code == 200 and r.json()["deal_id"] == deal

    r = await api.client.get(f"/api/accounts/{account}/political-map", headers=api.auth)
    assert r.status_code == 200
    names = {s["name"] for s in r.json()["stakeholders"]}
    assert "Mark Lee" in names and r.json()["dot"].startswith("digraph")
    by_domain = await api.client.get("/api/accounts/globex.com/political-map", headers=api.auth)
    assert by_domain.json()["account_id"] == account
    drawn = await api.client.get(
        f"/api/accounts/{account}/political-map", headers=api.auth, params={"svg": "true"}
    )
    ElementTree.fromstring(drawn.json()["svg"])

    r = await api.client.put(
        f"/api/accounts/{account}/stakeholders/override",
        headers=api.auth,
        json={
            "who": "Mark Lee",
            "scores": {"influence": 10},
            "add_roles": ["champion"],
            "note": "runs the steering committee",
        },
    )
    assert r.status_code == 200, r.text
    mark = next(s for s in r.json()["stakeholders"] if s["name"] == "Mark Lee")
    influence = next(s for s in mark["scores"] if s["name"] == "influence")
    assert influence["source"] == "human_override" and influence["value"] == 10
    assert "champion" in mark["roles"]
    bad = await api.client.put(
        f"/api/accounts/{account}/stakeholders/override",
        headers=api.auth,
        json={"who": "Mark Lee", "scores": {"influence": 11}},
    )
    assert bad.status_code == 422

    plan = await api.client.get(f"/api/deals/{deal}/plan", headers=api.auth)
    assert plan.status_code == 200 and plan.json()["markdown"].startswith("# Opportunity plan")
    aplan = await api.client.get(f"/api/accounts/{account}/plan", headers=api.auth)
    assert aplan.status_code == 200 and aplan.json()["kind"] == "account"
    x = await api.client.get(f"/api/deals/{deal}/explain", headers=api.auth)
    assert x.status_code == 200 and x.json()["interactions"] == 2
    missing = await api.client.get(
        "/api/deals/00000000-0000-0000-0000-000000000000/explain", headers=api.auth
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"content": ""}, 422),
        ({"content": "   \n\t "}, 422),
        ({"content": "\u0000\u0001\u0002 binary"}, 422),
        ({"content": "{not json", "format": "json"}, 422),
        ({"content": email(BUYING), "account_id": "00000000-0000-0000-0000-000000000001"}, 404),
        ({"content": email(BUYING), "deal_id": "00000000-0000-0000-0000-000000000001"}, 404),
        ({"content": email(BUYING), "account_id": "nowhere.example"}, 404),
    ],
)
async def test_bad_conversations_are_refused_and_nothing_is_stored(
    api: Api, body: dict[str, Any], status: int
) -> None:
    before = await api.changes()
    r = await api.client.post("/api/conversations", headers=api.auth, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]
    assert await api.changes() == before


async def test_malformed_and_oversized_bodies_are_refused(api: Api) -> None:
    before = await api.changes()
    r = await api.client.post(
        "/api/conversations",
        headers={**api.auth, "Content-Type": "application/json"},
        content=b'{"content": "unterminated',
    )
    assert r.status_code == 422
    big = json.dumps({"content": "x" * (5 * 1024 * 1024 + 10)})
    r = await api.client.post(
        "/api/conversations",
        headers={**api.auth, "Content-Type": "application/json"},
        content=big.encode(),
    )
    assert r.status_code in (413, 422)
    assert await api.changes() == before
    assert (await api.client.post("/api/conversations", json={"content": "x"})).status_code == 401


async def test_the_routes_are_in_openapi(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/conversations",
        "/api/accounts/{account_id}/political-map",
        "/api/accounts/{account_id}/stakeholders/override",
        "/api/deals/{deal_id}/plan",
        "/api/accounts/{account_id}/plan",
        "/api/deals/{deal_id}/explain",
    ):
        assert path in paths, path
