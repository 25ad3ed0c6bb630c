"""A query parameter given twice is a 422 unless the operation takes a list."""

from __future__ import annotations

from tests.e2e.test_api import World, world

__all__ = ["world"]


async def test_a_repeated_scalar_is_refused_and_a_list_may_repeat(world: World) -> None:
    r = await world.client.get("/api/deals?open=false&open=false", headers=world.as_a())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "open"
    r = await world.client.get("/api/deals?stage=lead&stage=demo", headers=world.as_a())
    assert r.status_code == 200, r.text
    r = await world.client.get("/api/changes?limit=5&limit=6", headers=world.as_a())
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
