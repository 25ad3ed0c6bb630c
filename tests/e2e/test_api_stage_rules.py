"""Stage rules and the stall check through the API, on SQLite and PostgreSQL: GET/PUT
/api/stage-rules (typed, validated: 422 with the one error body and nothing saved) and POST
/api/deals/stall-check; the CLI's --json prints the same shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import build
from pie.config import Settings
from pie.domain.ownership import HUMAN
from pie.domain.stages import Stage
from pie.entrypoints.api.app import create_app
from pie.services.schemas.stage_rules import SIGNAL_NAMES, SignalName, StageRulesRead
from tests.e2e.test_api_intelligence import Api, post
from tests.unit.services.intel_world import BUYING, email


@pytest_asyncio.fixture
async def api(db: Any) -> AsyncIterator[Api]:
    container = build(Settings(database_url=db.url))
    made = await container.tenants.create(f"rules-api-{id(container)}")
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
        yield Api(client, made.api_key, made.tenant.id, container)
    await container.aclose()


def test_the_signal_names_are_the_ones_the_engine_knows() -> None:
    assert set(SignalName.__args__) == set(SIGNAL_NAMES)  # type: ignore[attr-defined]


async def test_stage_rules_are_read_and_replaced(api: Api) -> None:
    r = await api.client.get("/api/stage-rules", headers=api.auth)
    assert r.status_code == 200, r.text
    default = StageRulesRead.model_validate(r.json())
    assert default.stalled_after_days == 30
    assert list(default.stage_requirements) == [
        "qualification",
        "discovery",
        "demo",
        "proposal",
        "negotiation",
    ]
    body = {
        "stage_requirements": {
            "demo": {"min_interactions": 5, "required_signals": ["budget_mention"]}
        },
        "stalled_after_days": 14,
    }
    r = await api.client.put("/api/stage-rules", headers=api.auth, json=body)
    assert r.status_code == 200, r.text
    got = (await api.client.get("/api/stage-rules", headers=api.auth)).json()
    assert got == r.json()
    assert got["stalled_after_days"] == 14
    assert got["stage_requirements"]["demo"]["min_interactions"] == 5
    assert got["stage_requirements"]["demo"]["required_signals"] == ["budget_mention"]
    assert got["stage_requirements"]["negotiation"] == (
        default.stage_requirements["negotiation"].model_dump()
    )
    # a PUT replaces the whole document: demo gets its default back
    r = await api.client.put("/api/stage-rules", headers=api.auth, json={})
    assert r.json()["stage_requirements"]["demo"] == default.stage_requirements["demo"].model_dump()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stalled_after_days": 0}, "stalled_after_days"),
        ({"stalled_after_days": "soon"}, "stalled_after_days"),
        ({"stage_requirements": {"nowhere": {}}}, "stage_requirements"),
        ({"stage_requirements": {"lead": {}}}, "stage_requirements"),
        ({"stage_requirements": {"demo": {"min_bant_completion": 1.5}}}, "min_bant_completion"),
        ({"stage_requirements": {"demo": {"required_signals": ["budjet"]}}}, "required_signals"),
        ({"stage_requirements": {"demo": {"min_interactions": -1}}}, "min_interactions"),
        ({"stage_requirements": {"demo": {"colour": "red"}}}, "colour"),
        ({"stalled": 3}, "stalled"),
    ],
)
async def test_bad_stage_rules_are_refused_and_nothing_is_saved(
    api: Api, body: dict[str, Any], field: str
) -> None:
    before = (await api.client.get("/api/stage-rules", headers=api.auth)).json()
    r = await api.client.put("/api/stage-rules", headers=api.auth, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and field in str(error), error
    assert (await api.client.get("/api/stage-rules", headers=api.auth)).json() == before


async def test_the_stall_check_stalls_quiet_deals_and_keeps_a_person_s_stage(api: Api) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=45)
    r = await post(api, email(BUYING, day=format_datetime(long_ago)))
    assert r.status_code == 200, r.text
    quiet = r.json()["deal_id"]
    r = await post(
        api, email(BUYING, day=format_datetime(long_ago), sender="Ravi Shah <ravi@initech.com>")
    )
    held = r.json()["deal_id"]
    async with api.container.uow(api.tenant, writes=True) as w:
        deal = await w.deals.get(UUID(held))
        assert deal is not None
        await w.deals.update(
            dataclasses.replace(deal, stage=Stage.DEMO), origin=HUMAN, fields=frozenset({"stage"})
        )
        await w.commit()
    r = await api.client.post("/api/deals/stall-check", headers=api.auth)
    assert r.status_code == 200, r.text
    report = r.json()
    assert [d["deal_id"] for d in report["stalled"]] == [quiet]
    assert report["stalled"][0]["from_stage"] == "lead"
    assert [(d["deal_id"], d["stage_owner"]) for d in report["kept"]] == [(held, HUMAN)]
    detail = (await api.client.get(f"/api/deals/{quiet}", headers=api.auth)).json()
    assert detail["deal"]["stage"] == "stalled"
    again = (await api.client.post("/api/deals/stall-check", headers=api.auth)).json()
    assert again["stalled"] == [] and again["open_deals"] == 1
    assert (await api.client.post("/api/deals/stall-check")).status_code == 401


async def test_the_routes_are_in_openapi(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert {"get", "put"} <= set(paths["/api/stage-rules"])
    assert "post" in paths["/api/deals/stall-check"]
    put = paths["/api/stage-rules"]["put"]
    assert "422" in put["responses"] and "401" in put["responses"]
