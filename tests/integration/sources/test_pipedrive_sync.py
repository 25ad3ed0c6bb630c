"""The Pipedrive connector against its emulator, on SQLite and PostgreSQL: a full sync equals
the emulator's data (stage histories included), an incremental sync picks up exactly what was
edited or deleted, 429 storms and a crash mid-sync lose and duplicate nothing, a bad record is
reported and the rest lands. Small worlds, small pages: many pages per stream."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pie.domain.errors import TransientError
from pie.domain.model import EntityKind
from pie.domain.stages import Stage
from pie.importing.report import ImportReport
from pie.sources.pipedrive.client import PipedriveClient
from pie.sources.pipedrive.connector import PipedriveSource, sync
from pie.sources.pipedrive.emulator import Emulator, Limits
from pie.sources.pipedrive.world import World, seeded
from tests.dbfixtures import Database

PAGE = 4  # the emulator's page size: every stream takes many pages


@pytest.fixture
def world() -> World:
    return seeded(deals=8, seed=11)


@pytest.fixture
def emulator(world: World) -> Iterator[Emulator]:
    with Emulator(world, max_limit=PAGE) as emu:
        yield emu


def source(emu: Emulator, **options: Any) -> PipedriveSource:
    client = PipedriveClient(emu.base_url, emu.token, backoff=0.001, max_backoff=0.01)
    return PipedriveSource(client, page_size=100, **options)


async def run(
    db: Database, tenant: Any, emu: Emulator, src: PipedriveSource | None = None, **options: Any
) -> ImportReport:
    """A sync through a client that is closed afterwards."""
    src = src or source(emu)
    async with src.client:
        return await sync(db.uow(tenant), src, **options)


def live(world: World, entity: str) -> list[dict[str, Any]]:
    return [
        r for r in world.all(entity) if not r.get("is_deleted") and r.get("status") != "deleted"
    ]


def expected_stage(world: World, deal: dict[str, Any]) -> Stage:
    if deal["status"] == "won":
        return Stage.CLOSED_WON
    if deal["status"] == "lost":
        return Stage.CLOSED_LOST
    return world.stage_of(deal["stage_id"])


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


async def assert_store_equals(db: Database, tenant: Any, world: World) -> None:
    """Every live record of the emulator is stored once, with its values and links, and
    nothing else is stored; each deal's transitions are its history."""
    async with db.uow(tenant) as uow:
        refs = uow.refs

        async def resolve(kind: EntityKind, rows: list[dict[str, Any]]) -> dict[int, Any]:
            found = await refs.resolve(kind, "pipedrive", [str(r["id"]) for r in rows])
            assert len(found) == len(rows), f"{kind}: {len(found)} of {len(rows)} stored"
            return {int(k): v for k, v in found.items()}

        orgs, persons = live(world, "organizations"), live(world, "persons")
        deals, activities = live(world, "deals"), live(world, "activities")
        org_ids = await resolve(EntityKind.ACCOUNT, orgs)
        person_ids = await resolve(EntityKind.CONTACT, persons)
        deal_ids = await resolve(EntityKind.DEAL, deals)
        activity_ids = await resolve(EntityKind.ACTIVITY, activities)
        assert await uow.accounts.count() == len(orgs)
        stored_contacts = [c async for batch in uow.contacts.iter_all() for c in batch]
        assert len(stored_contacts) == len(persons)
        assert await uow.deals.count() == len(deals)
        stored_activities = [a async for batch in uow.activities.iter_all() for a in batch]
        assert len(stored_activities) == len(activities)

        for org in orgs:
            account = await uow.accounts.get(org_ids[org["id"]])
            assert account is not None and account.name == org["name"]
            assert account.custom_fields.get("Industry")  # by its name, option as label
        for person in persons:
            contact = await uow.contacts.get(person_ids[person["id"]])
            assert contact is not None and contact.name == person["name"]
            assert contact.email == person["emails"][0]["value"]
            org = person["org_id"]
            assert contact.account_id == (org_ids[org] if org else None)
        for d in deals:
            deal = await uow.deals.get(deal_ids[d["id"]])
            assert deal is not None, d
            assert deal.name == d["title"]
            assert deal.owner in world.users  # the owner's name, not their user id
            assert deal.value == pytest.approx(d["value"])
            assert deal.stage is expected_stage(world, d)
            assert deal.account_id == (org_ids[d["org_id"]] if d["org_id"] else None)
            assert "Product line" in deal.custom_fields
            assert deal.custom_fields["pipeline"] in ("Sales", "Enterprise")
            history = await uow.transitions.for_deal(deal.id)
            got = [(t.at, t.to_stage, t.value, t.expected_close) for t in history]
            want = [
                (at, stage, None if v is None else Decimal(str(v)), _day(close))
                for at, stage, v, close in world.canonical[d["id"]]
            ]
            assert got == want, d["id"]
            assert history[0].from_stage is None
            for before, after in itertools.pairwise(history):
                assert after.from_stage is before.to_stage
        for a in activities:
            activity = next(x for x in stored_activities if x.id == activity_ids[a["id"]])
            assert activity.deal_id == (deal_ids[a["deal_id"]] if a["deal_id"] else None)
            assert activity.subject == a["subject"]


async def test_a_full_sync_equals_the_emulator(db: Database, emulator: Emulator) -> None:
    tenant = (await db.new_tenant()).tenant.id
    src = source(emulator)
    report = await run(db, tenant, emulator, src, chunk_size=7)

    await assert_store_equals(db, tenant, emulator.world)
    assert report.rejected_total == 0
    assert report.count(EntityKind.DEAL).created == len(live(emulator.world, "deals"))
    deal_pages = [line for line in emulator.log if line.startswith("GET /api/v2/deals?")]
    assert len(deal_pages) >= len(emulator.world.records["deals"]) // PAGE
    assert not any("/recents" in line for line in emulator.log)
    assert set(report.cursors) == {"organizations", "persons", "deals", "activities"}
    # the "Enterprise" pipeline's custom stages mapped by their metadata, without a map file
    custom = {emulator.world.records["stages"][s]["name"] for s in (7, 8, 9, 10, 11, 12)}
    history_names = {
        i["data"]["additional_data"]["new_value_formatted"]
        for d in live(emulator.world, "deals")
        for i in emulator.world.flow(d["id"])
        if i["data"]["field_key"] == "stage_id"
    }
    assert custom & history_names


async def test_an_incremental_sync_picks_up_exactly_the_edits_and_deletes(
    db: Database, emulator: Emulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    world = emulator.world
    await run(db, tenant, emulator, chunk_size=7)
    async with db.uow(tenant) as uow:
        seq = await uow.changes.latest()

    deals = sorted(live(world, "deals"), key=lambda d: d["id"])
    renamed, moved, won, gone = deals[0], deals[1], deals[2], deals[3]
    world.update("deals", renamed["id"], title="Renamed deal")
    stage_ids = [
        s for s, st in world.records["stages"].items() if st["pipeline_id"] == moved["pipeline_id"]
    ]
    target = next(s for s in stage_ids if s != moved["stage_id"])
    world.update("deals", moved["id"], stage_id=target, status="open")
    world.update("deals", won["id"], status="won")
    world.delete("deals", gone["id"])
    org = live(world, "organizations")[0]
    world.update("organizations", org["id"], name="Renamed Org")
    person = next(
        p
        for p in live(world, "persons")
        if not any(d["person_id"] == p["id"] for d in world.all("deals"))
    )
    world.delete("persons", person["id"])

    async with db.uow(tenant) as uow:  # before the sync: a deleted record's ref goes with it
        ids = {
            kind: await uow.refs.resolve(kind, "pipedrive", [str(i) for i in wanted])
            for kind, wanted in (
                (EntityKind.DEAL, [renamed["id"], moved["id"], won["id"], gone["id"]]),
                (EntityKind.ACCOUNT, [org["id"]]),
                (EntityKind.CONTACT, [person["id"]]),
            )
        }

    src = source(emulator)
    report = await run(db, tenant, emulator, src)

    await assert_store_equals(db, tenant, world)
    async with db.uow(tenant) as uow:
        changes = await uow.changes.list(since=seq, limit=1000)
        assert await uow.refs.resolve(EntityKind.DEAL, "pipedrive", [str(gone["id"])]) == {}
        assert await uow.refs.resolve(EntityKind.CONTACT, "pipedrive", [str(person["id"])]) == {}
    main = {EntityKind.DEAL, EntityKind.ACCOUNT, EntityKind.CONTACT}
    touched = {(c.entity, c.entity_id, c.op) for c in changes if c.entity in main}
    assert touched == {
        (EntityKind.DEAL, ids[EntityKind.DEAL][str(renamed["id"])], "update"),
        (EntityKind.DEAL, ids[EntityKind.DEAL][str(moved["id"])], "update"),
        (EntityKind.DEAL, ids[EntityKind.DEAL][str(won["id"])], "update"),
        (EntityKind.DEAL, ids[EntityKind.DEAL][str(gone["id"])], "delete"),
        (EntityKind.ACCOUNT, ids[EntityKind.ACCOUNT][str(org["id"])], "update"),
        (EntityKind.CONTACT, ids[EntityKind.CONTACT][str(person["id"])], "delete"),
    }
    assert report.deleted.get(EntityKind.DEAL) == 1
    assert report.deleted.get(EntityKind.CONTACT) == 1
    # only what changed (and the overlap) was read again
    assert src.read["deals"] < len(world.records["deals"])

    # and a sync with nothing new changes nothing
    again = await run(db, tenant, emulator)
    async with db.uow(tenant) as uow:
        assert await uow.changes.latest() == max(c.seq for c in changes)
    assert again.created == again.updated == 0


async def test_a_429_storm_mid_sync_resumes_without_loss_or_duplicates(
    db: Database, emulator: Emulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    emulator.inject(9, 429, times=6, retry_after=0.01)
    emulator.inject(30, 429, times=3)  # no Retry-After wait: backoff
    emulator.limits = Limits(burst=15, window=0.3)  # and the burst window throughout
    src = source(emulator)
    report = await run(db, tenant, emulator, src, chunk_size=5)

    await assert_store_equals(db, tenant, emulator.world)
    assert src.client.stats.retries >= 9
    assert report.count(EntityKind.DEAL).created == len(live(emulator.world, "deals"))
    assert report.count(EntityKind.ACCOUNT).created == len(live(emulator.world, "organizations"))


async def test_a_crash_mid_sync_then_a_rerun_loses_and_duplicates_nothing(
    db: Database, emulator: Emulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    # the server fails for good half-way through the deals
    emulator.inject(len(emulator.world.records["organizations"]) // PAGE + 25, 500, times=10_000)
    with pytest.raises(TransientError):
        await run(db, tenant, emulator, chunk_size=5)
    async with db.uow(tenant) as uow:
        committed = {s: await uow.cursors.get("pipedrive", s) for s in ("organizations", "deals")}
        partial = await uow.deals.count()
    assert committed["organizations"] is not None  # batches before the crash stayed
    assert partial < len(live(emulator.world, "deals"))

    emulator.clear_faults()
    report = await run(db, tenant, emulator, chunk_size=5)

    await assert_store_equals(db, tenant, emulator.world)
    assert report.count(EntityKind.DEAL).created == len(live(emulator.world, "deals")) - partial


async def test_a_bad_record_is_reported_and_the_rest_lands(
    db: Database, emulator: Emulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    world = emulator.world
    bad = live(world, "deals")[2]["id"]
    world.update("deals", bad, value="12,5x")

    report = await run(db, tenant, emulator, chunk_size=5)

    own = [a["id"] for a in live(world, "activities") if a["deal_id"] == bad]
    assert report.rejected_total == 1 + len(own)
    rejected = {r.record_id: r for r in report.rejected}
    assert (rejected[str(bad)].field, rejected[str(bad)].record[:6]) == ("value", "deals ")
    assert "not an amount" in rejected[str(bad)].problem
    # the deal's activities refer to it, so they wait for it; nothing else is refused
    assert all(r.field == "deal_id" for r in report.rejected if r.record_id != str(bad))
    async with db.uow(tenant) as uow:
        assert await uow.deals.count() == len(live(world, "deals")) - 1
        assert await uow.accounts.count() == len(live(world, "organizations"))

    # still bad: reported again by the next sync, which reads it again by id
    again = await run(db, tenant, emulator)
    assert {r.record_id for r in again.rejected} == set(rejected)
    assert any(line.startswith(f"GET /api/v2/deals/{bad}") for line in emulator.log)

    # fixed in Pipedrive: the next sync stores it, and the activities that wait for it
    world.update("deals", bad, value=1000)
    fixed = await run(db, tenant, emulator)
    assert fixed.rejected_total == 0
    assert fixed.count(EntityKind.DEAL).created == 1
    assert fixed.count(EntityKind.ACTIVITY).created == len(own)
    await assert_store_equals(db, tenant, world)
    async with db.uow(tenant) as uow:
        retry = await uow.cursors.get("pipedrive", "retry")
    assert retry is not None and retry.value == "{}"


async def test_a_spent_daily_budget_stops_keeps_what_was_read_and_resumes(
    db: Database, emulator: Emulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    emulator.limits = Limits(budget=400)
    with pytest.raises(TransientError, match="budget"):
        await run(db, tenant, emulator, chunk_size=5)
    async with db.uow(tenant) as uow:
        assert await uow.cursors.get("pipedrive", "organizations") is not None

    emulator.limits = Limits()
    await run(db, tenant, emulator, chunk_size=5)
    await assert_store_equals(db, tenant, emulator.world)


async def test_purged_records_are_reconciled_by_a_full_sync_or_a_stale_cursor(
    db: Database, emulator: Emulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    world = emulator.world
    await run(db, tenant, emulator)
    deals = sorted(live(world, "deals"), key=lambda d: d["id"])
    person = next(
        p for p in live(world, "persons") if not any(d["person_id"] == p["id"] for d in deals)
    )
    activities = [a for a in live(world, "activities") if a["deal_id"] == deals[0]["id"]]
    for entity, ident in (("deals", deals[0]["id"]), ("persons", person["id"])):
        world.delete(entity, ident)
        world.purge(entity, ident)  # 30 days later: Pipedrive no longer lists it at all

    await run(db, tenant, emulator)  # an incremental sync cannot see what is gone
    async with db.uow(tenant) as uow:
        assert await uow.deals.count() == len(live(world, "deals")) + 1

    report = await run(db, tenant, emulator, source(emulator, full=True))
    assert report.deleted == {
        EntityKind.DEAL: 1,
        EntityKind.CONTACT: 1,
        EntityKind.ACTIVITY: len(activities),  # the deal's, purged with it
    }
    await assert_store_equals(db, tenant, world)

    # a stream last read longer ago than the purge horizon is read whole and reconciled
    world.delete("deals", deals[1]["id"])
    world.purge("deals", deals[1]["id"])
    async with db.uow(tenant) as uow:
        old = datetime.now(UTC) - timedelta(days=40)
        cursor = await uow.cursors.get("pipedrive", "deals")
        assert cursor is not None
        stale = cursor.value.rsplit("|", 1)[0] + f"|{old:%Y-%m-%dT%H:%M:%SZ}"
        await uow.cursors.save("pipedrive", "deals", stale)
        await uow.commit()
    report = await run(db, tenant, emulator)
    assert report.deleted.get(EntityKind.DEAL) == 1
    await assert_store_equals(db, tenant, world)
