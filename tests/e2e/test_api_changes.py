"""The change feed and provenance through the API: each tenant sees only its own changes."""

from __future__ import annotations

import dataclasses

from pie.domain.ownership import HUMAN
from tests.e2e.test_api import World, world

__all__ = ["world"]


async def _all(world: World, headers: dict[str, str], **params: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    since = "0"
    while True:
        r = await world.client.get(
            "/api/changes", headers=headers, params={"since": since, "limit": "2", **params}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["changes"]
        if not body["more"]:
            return out
        since = str(body["next_since"])


async def test_the_feed_pages_through_the_callers_changes_only(world: World) -> None:
    mine = await _all(world, world.as_a())
    theirs = await _all(world, {"Authorization": f"Bearer {world.key_b}"})
    assert mine and theirs
    assert [c["seq"] for c in mine] == list(range(1, len(mine) + 1))
    ids_a = {str(i) for i in world.a.deal_ids.values()}
    ids_b = {str(i) for i in world.b.deal_ids.values()}
    deals_a = {c["id"] for c in mine if c["entity"] == "deal"}
    assert deals_a == ids_a and not deals_a & ids_b
    only_deals = await _all(world, world.as_a(), entity="deal")
    assert {c["entity"] for c in only_deals} == {"deal"}


async def test_an_edit_shows_in_the_feed_and_in_the_deals_provenance(world: World) -> None:
    deal_id = next(iter(world.a.deal_ids.values()))
    before = (await world.client.get("/api/changes", headers=world.as_a())).json()["latest"]
    async with world.container.uow(world.tenant_a) as uow:
        deal = await uow.deals.get(deal_id)
        assert deal is not None
        await uow.deals.update(
            dataclasses.replace(deal, owner="edited by hand"),
            origin=HUMAN,
            expected_version=deal.version,
        )
        await uow.commit()
    r = await world.client.get("/api/changes", headers=world.as_a(), params={"since": before})
    change = r.json()["changes"][0]
    assert change["op"] == "update" and change["origin"] == HUMAN
    assert change["fields"]["owner"][1] == "edited by hand"
    detail = (await world.client.get(f"/api/deals/{deal_id}", headers=world.as_a())).json()
    assert detail["provenance"]["owner"]["origin"] == HUMAN
    assert detail["deal"]["version"] == change["version"]


async def test_bad_feed_parameters_are_422_not_500(world: World) -> None:
    for params in ({"since": "-1"}, {"since": str(2**63)}, {"limit": "0"}, {"entity": "dael"}):
        r = await world.client.get("/api/changes", headers=world.as_a(), params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
