"""The HubSpot emulator is faithful to the fact sheet, and the client copes with what it does:
date-versioned paths with the legacy ones as fallback, string values, search filters, the
10,000 cap, the index lag, archives, pipelines' string metadata, rate headers and 429 bodies."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from pie.domain.errors import PermanentError, TransientError
from pie.domain.model import EntityKind, StakeholderRole
from pie.domain.stages import Stage
from pie.importing.mapping import hubspot as hs
from pie.importing.service import import_source
from pie.sources.hubspot.client import HubSpotAuth, RateLimited
from pie.sources.hubspot.connector import HubSpotSource
from pie.sources.hubspot.portal import Pipeline, epoch_ms
from pie.sources.hubspot.portal import Stage as HsStage
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork
from tests.hubspot_helpers import TOKEN, differences, expected, rig, stored

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _search(
    prop: str, op: str, value: int, after: str = "0", limit: int = 100
) -> dict[str, object]:
    return {
        "filterGroups": [
            {"filters": [{"propertyName": prop, "operator": op, "value": str(value)}]}
        ],
        "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
        "limit": limit,
        "after": after,
    }


async def test_records_pipelines_and_rate_headers_look_like_hubspot() -> None:
    async with rig(3, page_size=100) as r, httpx.AsyncClient(base_url=r.server.url) as http:
        got = await http.get(
            "/crm/objects/2026-03/deals",
            params={"properties": "amount,dealstage", "propertiesWithHistory": "dealstage"},
            headers=AUTH,
        )
        assert got.status_code == 200
        assert got.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        deal = got.json()["results"][0]
        assert all(isinstance(v, str) or v is None for v in deal["properties"].values())
        assert (
            deal["propertiesWithHistory"]["dealstage"][0]["value"]
            == deal["properties"]["dealstage"]
        )
        assert "paging" not in got.json()
        pipelines = (await http.get("/crm/v3/pipelines/deals", headers=AUTH)).json()["results"]
        meta = pipelines[0]["stages"][-1]["metadata"]
        assert meta == {"isClosed": "true", "probability": "0.0"}
        search = await http.post(
            "/crm/v3/objects/deals/search",
            json=_search("hs_lastmodifieddate", "GTE", 0),
            headers=AUTH,
        )
        assert "X-HubSpot-RateLimit-Remaining" not in search.headers
        assert search.json()["total"] == 3
        refused = await http.get("/crm/v3/objects/deals", headers={"Authorization": "Bearer x"})
        assert refused.status_code == 401
        assert refused.json()["category"] == "INVALID_AUTHENTICATION"


async def test_search_stops_at_the_cap_and_lags_writes() -> None:
    async with (
        rig(6, page_size=4, search_cap=8) as r,
        httpx.AsyncClient(base_url=r.server.url) as http,
    ):
        body = _search("hs_lastmodifieddate", "GTE", 0, limit=4)
        first = (await http.post("/crm/v3/objects/emails/search", json=body, headers=AUTH)).json()
        assert first["total"] > 8 and first["paging"]["next"]["after"] == "4"
        body["after"] = "8"
        capped = await http.post("/crm/v3/objects/emails/search", json=body, headers=AUTH)
        assert capped.status_code == 400 and capped.json()["category"] == "VALIDATION_ERROR"

        p = r.portal
        since = epoch_ms(r.clock.now)
        new = p.create(
            "notes",
            {"hs_timestamp": r.clock.now, "hs_note_body": "x"},
            index_lag=timedelta(seconds=30),
        )
        old = p.live("deals")[0].id
        p.edit("deals", old, dealname="Lagging", index_lag=timedelta(seconds=30))
        notes = (
            await http.post(
                "/crm/v3/objects/notes/search",
                json=_search("hs_lastmodifieddate", "GTE", since),
                headers=AUTH,
            )
        ).json()
        assert notes["total"] == 0  # not indexed yet
        deals = (
            await http.post(
                "/crm/v3/objects/deals/search",
                json=_search("hs_lastmodifieddate", "GTE", since),
                headers=AUTH,
            )
        ).json()
        assert deals["total"] == 0  # the index still has the old version
        r.clock.advance(31)
        notes = (
            await http.post(
                "/crm/v3/objects/notes/search",
                json=_search("hs_lastmodifieddate", "GTE", since),
                headers=AUTH,
            )
        ).json()
        assert [n["id"] for n in notes["results"]] == [new]

        p.archive("notes", new)
        notes = (
            await http.post(
                "/crm/v3/objects/notes/search",
                json=_search("hs_lastmodifieddate", "GTE", since),
                headers=AUTH,
            )
        ).json()
        assert notes["total"] == 0
        archived = (
            await http.get("/crm/v3/objects/notes", params={"archived": "true"}, headers=AUTH)
        ).json()
        assert [(n["id"], n["archived"]) for n in archived["results"]] == [(new, True)]
        assert "archivedAt" in archived["results"][0]


async def test_the_client_falls_back_to_the_legacy_paths() -> None:
    async with rig(3, date_versioned=False) as r:
        store, tenant = InMemoryStore(), uuid.uuid4()
        await r.sync(InMemoryUnitOfWork(tenant, store))
        assert not differences(expected(r.portal), await stored(InMemoryUnitOfWork(tenant, store)))
        paths = [p for _, p in r.emulator.log]
        dated = [p for p in paths if "/2026-03/" in p]
        assert len(dated) == 4  # tried once per kind of path (objects, pipelines, ...): 404
        assert dated[0].startswith("/crm/pipelines/2026-03/")
        assert len(paths) > 40


async def test_rate_limits_wait_as_the_policy_says_and_the_daily_one_stops() -> None:
    async with rig(3) as r:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        client = r.client(sleep=sleep, max_wait=30)
        r.emulator.inject(429, at=1, policy="SECONDLY")
        r.emulator.inject(429, at=2, policy="TEN_SECONDLY_ROLLING")
        await client.pipelines()
        assert waits[0] == 1.0 and 0 < waits[1] <= 10
        r.emulator.inject(429, at=1, policy="DAILY")
        with pytest.raises(RateLimited, match="daily"):
            await client.pipelines()


async def test_the_client_pauses_when_the_burst_window_is_spent() -> None:
    async with rig(3) as r:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        r.emulator.burst = 1
        client = r.client(sleep=sleep, max_wait=0.01)
        await client.pipelines()  # answered with Remaining 0: the next request waits first
        assert waits == []
        with pytest.raises(TransientError, match="gave up"):
            await client.pipelines()
        assert waits[0] == 0.01


async def test_bad_credentials_and_refresh_tokens_are_refused() -> None:
    async with rig(2) as r:
        with pytest.raises(PermanentError, match="refused the credentials"):
            await r.client(HubSpotAuth(token="pat-wrong")).pipelines()
        bad = HubSpotAuth(
            client_id="emulator-client", client_secret="emulator-secret", refresh_token="nope"
        )
        with pytest.raises(PermanentError, match="BAD_REFRESH_TOKEN"):
            await r.client(bad).pipelines()


async def test_custom_pipelines_map_from_their_metadata_without_a_mapping_file() -> None:
    async with rig(2) as r:
        p = r.portal
        p.pipelines.append(
            Pipeline(
                "renewals",
                "Renewals",
                1,
                [
                    HsStage("901", "Renewal Due", 0, "0.1", False),
                    HsStage("902", "Verbal Yes", 1, "0.8", False),
                    HsStage("903", "Renewed", 2, "1.0", True),
                    HsStage("904", "Churned", 3, "0.0", True),
                ],
                r.clock.now,
            )
        )
        made = {
            stage: p.create(
                "deals",
                {"dealname": f"Renewal {stage}", "dealstage": stage, "pipeline": "renewals"},
            )
            for stage in ("901", "902", "903", "904")
        }
        store, tenant = InMemoryStore(), uuid.uuid4()
        report = await r.sync(InMemoryUnitOfWork(tenant, store))
        assert report.rejected == ()
        deals = (await stored(InMemoryUnitOfWork(tenant, store)))["deals"]
        assert {s: deals[i][2] for s, i in made.items()} == {
            "901": Stage.QUALIFICATION,
            "902": Stage.NEGOTIATION,
            "903": Stage.CLOSED_WON,
            "904": Stage.CLOSED_LOST,
        }
        assert deals[made["902"]][3] == "Verbal Yes"


async def test_without_overlap_the_index_lag_would_lose_an_edit() -> None:
    """The emulator's lag is real: a connector with no overlap misses the lagging edit (and
    the connector's default overlap does not: tests/integration/sources)."""
    async with rig(4, page_size=5) as r:
        store, tenant = InMemoryStore(), uuid.uuid4()
        p = r.portal
        await r.sync(InMemoryUnitOfWork(tenant, store), overlap=timedelta(0))
        r.clock.advance(3600)
        lagging, quick = p.live("deals")[0].id, p.live("deals")[1].id
        p.edit("deals", lagging, dealname="Late", index_lag=timedelta(seconds=90))
        r.clock.advance(5)
        p.edit("deals", quick, dealname="Quick", index_lag=timedelta(0))
        await r.sync(InMemoryUnitOfWork(tenant, store), overlap=timedelta(0))
        r.clock.advance(120)
        await r.sync(InMemoryUnitOfWork(tenant, store), overlap=timedelta(0))
        names = {
            k: v[0] for k, v in (await stored(InMemoryUnitOfWork(tenant, store)))["deals"].items()
        }
        assert names[quick] == "Quick" and names[lagging] != "Late"


async def test_a_record_edited_during_the_sync_stops_its_stream_before_it() -> None:
    """The cursor never passes a record that was not stored: an edit seen mid-run ends the
    stream there; the next run reads on from it."""
    async with rig(8, page_size=3) as r:
        store, tenant = InMemoryStore(), uuid.uuid4()
        client = r.client()
        source = HubSpotSource(client, objects=("companies", "deals"), page_size=3)
        searches: list[list[str]] = []
        original = client.search

        async def search(object_type: str, body: object) -> dict[str, object]:
            if object_type == "deals" and len(searches) == 1:  # a deal of page 1 is edited
                r.portal.edit("deals", searches[0][0], dealname="Edited meanwhile")
            found = await original(object_type, body)  # type: ignore[arg-type]
            if object_type == "deals":
                searches.append([str(x["id"]) for x in found["results"]])
            return found

        client.search = search  # type: ignore[method-assign]
        await import_source(
            InMemoryUnitOfWork(tenant, store), source, hs.api_mapper, vendor="hubspot"
        )
        assert "deals" in source.stopped
        await r.sync(InMemoryUnitOfWork(tenant, store))
        want = expected(r.portal)
        got = await stored(InMemoryUnitOfWork(tenant, store))
        edited = searches[0][0]
        assert got["deals"] == want["deals"] and got["deals"][edited][0] == "Edited meanwhile"


async def test_a_merge_leaves_one_record_listing_the_merged_ids() -> None:
    async with rig(3, page_size=100) as r, httpx.AsyncClient(base_url=r.server.url) as http:
        keep, other = (c.id for c in r.portal.live("contacts")[:2])
        deals = r.portal.associated("contacts", other, "deals")
        merged = await http.post(
            "/crm/v3/objects/contacts/merge",
            json={"primaryObjectId": keep, "objectIdToMerge": other},
            headers=AUTH,
        )
        assert merged.status_code == 200
        assert merged.json()["properties"]["hs_merged_object_ids"] == other
        gone = await http.get(f"/crm/v3/objects/contacts/{other}", headers=AUTH)
        assert gone.status_code == 404
        listed = await http.get("/crm/v3/objects/contacts", params={"limit": 100}, headers=AUTH)
        assert other not in {c["id"] for c in listed.json()["results"]}
        archived = await http.get(
            "/crm/v3/objects/contacts", params={"archived": "true"}, headers=AUTH
        )
        assert archived.json()["results"] == []
        # its associations moved to the survivor
        assert set(deals) <= set(r.portal.associated("contacts", keep, "deals"))
        again = await http.post(
            "/crm/v3/objects/contacts/merge",
            json={"primaryObjectId": keep, "objectIdToMerge": other},
            headers=AUTH,
        )
        assert again.status_code == 404


async def test_association_labels_become_stakeholder_roles() -> None:
    async with rig(3) as r:
        p = r.portal
        deal = next(d.id for d in p.live("deals") if p.associated("deals", d.id, "contacts"))
        labelled, *others = p.associated("deals", deal, "contacts")
        p.associate("deals", deal, "contacts", labelled, "Decision Maker")
        store, tenant = InMemoryStore(), uuid.uuid4()
        report = await r.sync(InMemoryUnitOfWork(tenant, store))
        assert report.rejected == ()
        async with InMemoryUnitOfWork(tenant, store) as uow:
            ids = await uow.refs.resolve(EntityKind.DEAL, "hubspot", [deal])
            people = await uow.refs.resolve(EntityKind.CONTACT, "hubspot", [labelled, *others])
            roles = {s.contact_id: s.roles for s in await uow.stakeholders.for_deal(ids[deal])}
        assert roles[people[labelled]] == (StakeholderRole.DECISION_MAKER,)
        assert all(roles[people[o]] == () for o in others)
