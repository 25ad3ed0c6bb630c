"""GET /api/sync/status and /api/sync/log: the caller's tenant only, paged, in OpenAPI."""

from __future__ import annotations

from pie.domain.crm_fields import RecordKind
from pie.ports.sync import Conflict, Link
from tests.e2e.test_api import World, world

__all__ = ["world"]


async def test_status_and_log_show_the_callers_sync_only(world: World) -> None:
    deal = next(iter(world.a.deal_ids.values()))
    async with world.container.uow(world.tenant_a) as uow:
        await uow.sync.save_link("notion", Link(RecordKind.DEAL, deal, "page-1"))
        await uow.sync.log_conflicts(
            "notion",
            [
                Conflict(RecordKind.DEAL, deal, "page-1", "stage", "demo", s, "won", "crm", "r")
                for s in ("proposal", "negotiation", "lead")
            ],
        )
        await uow.commit()
    r = await world.client.get("/api/sync/status", headers=world.as_a())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["linked"]["deal"] == 1 and body["conflicts"] == 3 and body["status"] == "idle"
    page = (
        await world.client.get("/api/sync/log", headers=world.as_a(), params={"limit": "2"})
    ).json()
    assert [c["local"] for c in page["conflicts"]] == ["proposal", "negotiation"]
    assert page["total"] == 3 and page["next_after"] is not None
    rest = (
        await world.client.get(
            "/api/sync/log", headers=world.as_a(), params={"after": str(page["next_after"])}
        )
    ).json()
    assert [c["local"] for c in rest["conflicts"]] == ["lead"] and rest["next_after"] is None
    theirs = await world.client.get(
        "/api/sync/log", headers={"Authorization": f"Bearer {world.key_b}"}
    )
    assert theirs.json()["conflicts"] == []
    bad = await world.client.get("/api/sync/log", headers=world.as_a(), params={"limit": "0"})
    assert bad.status_code == 422
    assert (await world.client.get("/api/sync/status")).status_code == 401


async def test_the_sync_routes_are_in_openapi(world: World) -> None:
    spec = (await world.client.get("/openapi.json")).json()
    assert {"/api/sync/status", "/api/sync/log"} <= set(spec["paths"])
