"""The HubSpot connector against its emulator, into both engines: a full sync stores exactly
the emulator's data (stage histories included), an incremental one exactly what changed, and
rate-limit storms, crashes, expired tokens, bad records, the search cap and the search index lag
lose and duplicate nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pie.domain.errors import TransientError
from pie.domain.model import EntityKind
from pie.domain.stages import Stage
from pie.sources.hubspot.client import HubSpotAuth
from tests.dbfixtures import Database
from tests.hubspot_helpers import differences, expected, rig, stored


async def test_full_sync_equals_the_emulator_and_a_second_one_changes_nothing(
    db: Database,
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(10, page_size=9) as r:
        report = await r.sync(db.uow(tenant))
        assert await stored(db.uow(tenant)) == expected(r.portal)
        assert report.rejected == ()
        assert report.count(EntityKind.DEAL).created == 10
        # the custom stages were mapped from their metadata and labels, with no mapping file
        deals = (await stored(db.uow(tenant)))["deals"]
        custom = {d[3]: d[2] for d in deals.values()} | {"Discovery Call": Stage.DISCOVERY}
        assert custom["Discovery Call"] is Stage.DISCOVERY
        async with db.uow(tenant) as uow:
            seq = await uow.changes.latest()
        again = await r.sync(db.uow(tenant))
        assert (again.created, again.updated, sum(again.deleted.values())) == (0, 0, 0)
        async with db.uow(tenant) as uow:
            assert await uow.changes.latest() == seq
            cursors = {s: (await uow.cursors.get("hubspot", s)) for s in ("deals", "notes")}
        assert all(c is not None for c in cursors.values())


async def test_incremental_sync_picks_up_exactly_the_edits_and_archives(db: Database) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(8, page_size=10) as r:
        await r.sync(db.uow(tenant))
        async with db.uow(tenant) as uow:
            seq = await uow.changes.latest()
        p = r.portal
        deal, gone_deal = p.live("deals")[0].id, p.live("deals")[1].id
        contact = p.live("contacts")[3].id
        r.clock.advance(3600)
        p.edit("deals", deal, amount="123456", dealstage="contractsent", product_line="Renewal")
        p.edit("contacts", contact, jobtitle="Chief Everything Officer")
        call = p.create(
            "calls",
            {"hs_timestamp": r.clock.now, "hs_call_title": "New call", "hs_call_body": "hi"},
            associations=[("deals", deal), ("contacts", contact)],
        )
        p.archive("deals", gone_deal)
        report = await r.sync(db.uow(tenant))
        assert not differences(expected(p), await stored(db.uow(tenant)))
        assert report.count(EntityKind.DEAL).updated == 1
        assert report.count(EntityKind.CONTACT).updated == 1
        assert report.count(EntityKind.ACTIVITY).created == 1
        assert report.count(EntityKind.STAGE_TRANSITION).created == 1
        assert report.deleted == {EntityKind.DEAL: 1}
        async with db.uow(tenant) as uow:
            changes = await uow.changes.list(since=seq, limit=1000)
        touched = {(c.entity, c.op) for c in changes}
        assert touched == {
            (EntityKind.DEAL, "update"),
            (EntityKind.CONTACT, "update"),
            (EntityKind.ACTIVITY, "create"),
            (EntityKind.STAGE_TRANSITION, "create"),
            (EntityKind.DEAL, "delete"),
        }
        assert all(c.origin == "hubspot" for c in changes)
        assert call in (await stored(db.uow(tenant)))["activities"]


async def test_a_rate_limit_storm_mid_sync_loses_and_duplicates_nothing(db: Database) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(8, page_size=10) as r:
        r.emulator.inject(429, at=15, count=4)
        r.emulator.inject(429, at=40, count=3, policy="SECONDLY")
        r.emulator.inject(502, at=60, count=2)
        client = r.client()
        report = await r.sync(db.uow(tenant), client=client)
        assert client.retries >= 9
        assert report.rejected == ()
        assert await stored(db.uow(tenant)) == expected(r.portal)


@pytest.mark.parametrize("stop", ["crash", "daily quota"])
async def test_a_stop_mid_sync_then_a_rerun_loses_and_duplicates_nothing(
    db: Database, stop: str
) -> None:
    """A crash (the API down past the retries) or HubSpot's daily limit: the sync stops,
    keeps the batches it committed with their cursors, and the next run completes it."""
    tenant = (await db.new_tenant()).tenant.id
    async with rig(8, page_size=10) as r:
        if stop == "crash":
            r.emulator.inject(500, at=50, count=10)
        else:
            r.emulator.inject(429, at=50, policy="DAILY")
        with pytest.raises(TransientError, match=r"gave up|daily"):
            await r.sync(db.uow(tenant), client=r.client(max_retries=2), chunk_size=5)
        half = await stored(db.uow(tenant))
        assert len(half["accounts"]) + len(half["contacts"]) + len(half["deals"]) > 0
        assert len(half["activities"]) < len(expected(r.portal)["activities"])
        async with db.uow(tenant) as uow:
            assert await uow.cursors.get("hubspot", "companies") is not None
        await r.sync(db.uow(tenant))
        assert not differences(expected(r.portal), await stored(db.uow(tenant)))


async def test_an_expired_oauth_token_is_refreshed(db: Database) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(6, page_size=5) as r:
        auth = HubSpotAuth(
            client_id=r.emulator.client_id,
            client_secret=r.emulator.client_secret,
            refresh_token="emulator-refresh-token",
        )
        refreshed: list[str] = []
        client = r.client(auth, on_refresh=lambda token, _: refreshed.append(token))
        await r.sync(db.uow(tenant), client=client)
        r.emulator.expire_access_tokens()
        r.emulator.inject(429, at=1)  # the expired token is refused first, then a storm
        r.clock.advance(60)
        r.portal.edit("deals", r.portal.live("deals")[0].id, dealname="Renamed")
        await r.sync(db.uow(tenant), client=client)
        assert len(refreshed) == 2 and refreshed[0] != refreshed[1]
        assert await stored(db.uow(tenant)) == expected(r.portal)


async def test_a_bad_record_is_reported_with_its_id_and_the_rest_lands(db: Database) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(6, page_size=5) as r:
        p = r.portal
        bad_call = p.live("calls")[0].id
        bad_deal = p.live("deals")[2].id
        p.edit("calls", bad_call, hs_timestamp="yesterday-ish")
        p.edit("deals", bad_deal, amount="12,34x")
        report = await r.sync(db.uow(tenant))
        rejected = {(x.record_id, x.field) for x in report.rejected}
        assert rejected == {(bad_call, "hs_timestamp"), (bad_deal, "amount")}
        want, got = expected(p), await stored(db.uow(tenant))
        del want["activities"][bad_call], want["deals"][bad_deal], want["transitions"][bad_deal]
        want["stakeholders"].pop(bad_deal, None)
        for activity in list(want["activities"]):
            if want["activities"][activity][2] == bad_deal:  # its deal is not stored
                kind, at, _, contacts = want["activities"][activity]
                want["activities"][activity] = (kind, at, None, contacts)
        assert got == want


async def test_the_search_cap_and_the_index_lag_lose_nothing(db: Database) -> None:
    tenant = (await db.new_tenant()).tenant.id
    async with rig(8, page_size=5, search_cap=10) as r:
        p = r.portal
        assert len(p.live("emails")) > 10  # more than one search may return
        await r.sync(db.uow(tenant))
        assert not differences(expected(p), await stored(db.uow(tenant)))
        r.clock.advance(3600)
        lagging, quick = p.live("deals")[0].id, p.live("deals")[1].id
        p.edit(
            "deals", lagging, dealname="Edited first, indexed late", index_lag=timedelta(seconds=90)
        )
        r.clock.advance(5)
        p.edit("deals", quick, dealname="Edited second, indexed at once", index_lag=timedelta(0))
        await r.sync(db.uow(tenant))
        names = {k: v[0] for k, v in (await stored(db.uow(tenant)))["deals"].items()}
        assert names[quick] == "Edited second, indexed at once"
        assert names[lagging] != "Edited first, indexed late"  # search did not show it yet
        r.clock.advance(120)
        await r.sync(db.uow(tenant))
        assert not differences(expected(p), await stored(db.uow(tenant)))
