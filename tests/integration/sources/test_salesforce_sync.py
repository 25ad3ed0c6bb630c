"""The Salesforce connector against the emulator (real HTTPS), into SQLite and PostgreSQL:
a full sync equals the org, stage histories included; an incremental sync picks up exactly
the edits and deletes; rate-limit and quota storms, a crash mid-sync, an expired token and a
bad record all end with the store equal to the org, nothing lost and nothing twice."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from pie.adapters.db.uow import SqlUnitOfWork
from pie.domain.errors import TransientError
from pie.domain.model import EntityKind
from pie.domain.stages import Stage
from pie.importing.mapping.salesforce import ROLES, activity_type
from pie.sample import generate
from pie.sources.salesforce.client import Credentials, Retry, SalesforceClient
from pie.sources.salesforce.connector import SalesforceSource
from pie.sources.salesforce.emulator import SalesforceEmulator
from pie.sources.salesforce.org import STAGES, Org, org_from_world
from pie.sources.salesforce.sync import SyncResult, sync
from tests.dbfixtures import Database

SOURCE = "salesforce"
#: The emulator's stage labels -> the stage PIE must make of them (custom ones from metadata).
EXPECTED_STAGE = {row[0]: Stage(row[6]) for row in STAGES}


@functools.cache
def world(deals: int = 10) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.json"
        generate(path, deals=deals, seed=11, conversations=False)
        return path.read_bytes()


def fresh_org() -> Org:
    """The org of the world, its activities older than a year archived (only ``queryAll``
    returns them: the connector must read them too)."""
    import orjson

    org = org_from_world(orjson.loads(world()))
    assert org.archive_activities() > 0
    return org


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(fresh_org(), page_size=10) as em:
        yield em


def source(em: SalesforceEmulator, *, refresh: bool = True, **kw: Any) -> SalesforceSource:
    credentials = Credentials(
        client_id=em.client_id,
        client_secret=em.client_secret,
        refresh_token=em.refresh_token if refresh else None,
        login_url=em.url,
        ca_file=em.ca_file,
    )
    client = SalesforceClient(credentials, retry=Retry(attempts=4, base=0.0), sleep=lambda _: None)
    return SalesforceSource(client, **kw)


async def run(db: Database, tenant: UUID, src: SalesforceSource, **kw: Any) -> SyncResult:
    return await sync(SqlUnitOfWork(db.sessions, tenant, writes=True), src, chunk_size=25, **kw)


async def resolve(db: Database, tenant: UUID, kind: EntityKind, ids: list[str]) -> dict[str, UUID]:
    async with db.uow(tenant) as uow:
        return await uow.refs.resolve(kind, SOURCE, ids)


async def count_all(db: Database, tenant: UUID) -> Counter[str]:
    counts: Counter[str] = Counter()
    async with db.uow(tenant) as uow:
        for name, repo in (
            ("accounts", uow.accounts),
            ("contacts", uow.contacts),
            ("deals", uow.deals),
            ("stakeholders", uow.stakeholders),
            ("activities", uow.activities),
            ("transitions", uow.transitions),
        ):
            async for batch in repo.iter_all():
                counts[name] += len(batch)
    return counts


def expected_transitions(org: Org, opportunity: str) -> list[tuple[Stage | None, Stage]]:
    rows = sorted(
        (r for r in org.live("OpportunityHistory") if r["OpportunityId"] == opportunity),
        key=lambda r: (r["CreatedDate"], r["Id"]),
    )
    out: list[tuple[Stage | None, Stage]] = []
    previous: Stage | None = None
    for r in rows:
        stage = EXPECTED_STAGE.get(r["StageName"]) or Stage(r["StageName"])
        if stage is not previous:
            out.append((previous, stage))
            previous = stage
    return out


async def assert_store_equals_org(db: Database, tenant: UUID, org: Org) -> None:
    opportunities = org.live("Opportunity")
    counts = await count_all(db, tenant)
    assert counts["accounts"] == len(org.live("Account"))
    assert counts["contacts"] == len(org.live("Contact"))
    assert counts["deals"] == len(opportunities)
    assert counts["stakeholders"] == len(org.live("OpportunityContactRole"))
    assert counts["activities"] == len(org.live("Task")) + len(org.live("Event"))
    deals = await resolve(db, tenant, EntityKind.DEAL, [o["Id"] for o in opportunities])
    assert len(deals) == len(opportunities)
    transitions = 0
    async with db.uow(tenant) as uow:
        for o in opportunities:
            deal = await uow.deals.get(deals[o["Id"]])
            assert deal is not None
            assert deal.name == o["Name"]
            assert deal.source_stage == o["StageName"]
            assert deal.stage is EXPECTED_STAGE.get(o["StageName"], deal.stage)
            assert deal.value == (Decimal(str(o["Amount"])) if o["Amount"] is not None else None)
            assert str(deal.expected_close) == o["CloseDate"]
            assert deal.custom_fields.get("Region__c") == o["Region__c"]
            owner = org.get(o["OwnerId"])
            assert deal.owner == (owner["Name"] if owner else None)
            stored = [(t.from_stage, t.to_stage) for t in await uow.transitions.for_deal(deal.id)]
            assert stored == expected_transitions(org, o["Id"]), o["Id"]
            transitions += len(stored)
    assert counts["transitions"] == transitions
    await assert_details_equal(db, tenant, org)


async def assert_details_equal(db: Database, tenant: UUID, org: Org) -> None:
    """Accounts (custom fields too), contact roles and activities, record by record."""
    accounts = org.live("Account")
    roles = org.live("OpportunityContactRole")
    activities = org.live("Task") + org.live("Event")
    account_ids = await resolve(db, tenant, EntityKind.ACCOUNT, [a["Id"] for a in accounts])
    role_ids = await resolve(db, tenant, EntityKind.STAKEHOLDER, [r["Id"] for r in roles])
    activity_ids = await resolve(db, tenant, EntityKind.ACTIVITY, [a["Id"] for a in activities])
    deal_ids = await resolve(db, tenant, EntityKind.DEAL, [r["OpportunityId"] for r in roles])
    contact_ids = await resolve(db, tenant, EntityKind.CONTACT, [r["ContactId"] for r in roles])
    async with db.uow(tenant) as uow:
        for a in accounts:
            account = await uow.accounts.get(account_ids[a["Id"]])
            assert account is not None and account.name == a["Name"]
            assert account.employees == a["NumberOfEmployees"]
            assert account.custom_fields.get("Segment__c") == a["Segment__c"]
        for r in roles:
            stakeholder = await uow.stakeholders.get(role_ids[r["Id"]])
            assert stakeholder is not None
            assert stakeholder.deal_id == deal_ids[r["OpportunityId"]]
            assert stakeholder.contact_id == contact_ids[r["ContactId"]]
            assert stakeholder.is_primary == r["IsPrimary"]
            expected = ROLES.get((r["Role"] or "").casefold())
            assert stakeholder.roles == ((expected,) if expected else ())
        for a in activities:
            activity = await uow.activities.get(activity_ids[a["Id"]])
            assert activity is not None and activity.subject == a["Subject"]
            assert activity.type is activity_type(a, event=a["Id"].startswith("00U"))
            assert activity.type.value == a["Type"].lower().replace("-", "_")


async def test_a_full_sync_equals_the_org(db: Database, emulator: SalesforceEmulator) -> None:
    tenant = (await db.new_tenant()).tenant.id
    src = source(emulator)

    result = await run(db, tenant, src)

    assert result.stopped is None and result.report.rejected == ()
    assert src.pages > 20  # many pages: page size 10
    await assert_store_equals_org(db, tenant, emulator.org)
    # custom stages came from the metadata, without a stage map
    stages = {o["StageName"] for o in emulator.org.live("Opportunity")}
    stages |= {h["StageName"] for h in emulator.org.live("OpportunityHistory")}
    assert {"Technical Validation", "Contract Redlines"} <= stages


async def changed_since(db: Database, tenant: UUID, seq: int) -> set[tuple[str, UUID, str]]:
    async with db.uow(tenant) as uow:
        return {
            (c.entity.value, c.entity_id, c.op)
            for c in await uow.changes.list(since=seq, limit=10_000)
        }


async def latest(db: Database, tenant: UUID) -> int:
    async with db.uow(tenant) as uow:
        return await uow.changes.latest()


async def test_an_incremental_sync_picks_up_exactly_the_edits_and_deletes(
    db: Database, emulator: SalesforceEmulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    org = emulator.org
    await run(db, tenant, source(emulator))
    before = await latest(db, tenant)
    opportunities = sorted(org.live("Opportunity"), key=lambda o: o["Id"])
    open_ = next(o for o in opportunities[1:-2] if not o["IsWon"])  # to be won (back)
    renamed, moved, deleted = opportunities[0], open_, opportunities[-1]
    if deleted["Id"] in (renamed["Id"], moved["Id"]):
        deleted = opportunities[-2]
    account = org.live("Account")[0]
    task = next(t for t in org.live("Task") if t["WhatId"] not in (deleted["Id"],))
    along = [a for a in org.live("Task") + org.live("Event") if a["WhatId"] == deleted["Id"]]
    roles = [r for r in org.live("OpportunityContactRole") if r["OpportunityId"] == deleted["Id"]]
    org.update(renamed["Id"], {"Name": "Renamed deal"})
    org.update(moved["Id"], {"StageName": "Closed Won"})  # a new history row too
    org.update(account["Id"], {"Industry": "Aerospace"})
    org.delete(deleted["Id"])  # with its roles, history, tasks and events
    org.delete(task["Id"])
    made = org.create("Opportunity", {
        "Name": "Brand new", "AccountId": account["Id"], "OwnerId": renamed["OwnerId"],
        "StageName": "Prospecting", "Amount": 1200.0, "CloseDate": "2027-01-31",
        "Region__c": "Spain",
    })  # fmt: skip
    # the PIE ids, read before the sync: a deleted record's ref goes with it
    deals = await resolve(db, tenant, EntityKind.DEAL, [renamed["Id"], moved["Id"], deleted["Id"]])
    tasks = await resolve(db, tenant, EntityKind.ACTIVITY, [task["Id"]])

    result = await run(db, tenant, source(emulator))

    assert result.report.rejected == ()
    assert result.deleted == {"activity": 1 + len(along), "stakeholder": len(roles), "deal": 1}
    deals |= await resolve(db, tenant, EntityKind.DEAL, [made["Id"]])
    accounts = await resolve(db, tenant, EntityKind.ACCOUNT, [account["Id"]])
    gone = [deleted["Id"], task["Id"], *(a["Id"] for a in along), *(r["Id"] for r in roles)]
    for kind in (EntityKind.DEAL, EntityKind.ACTIVITY, EntityKind.STAKEHOLDER):
        assert await resolve(db, tenant, kind, gone) == {}  # no tombstone refs
    changes = await changed_since(db, tenant, before)
    # versioned records: exactly these changed (the deleted deal's children go with it)
    assert {(e, i, op) for e, i, op in changes if e in ("deal", "account", "contact")} == {
        ("deal", deals[renamed["Id"]], "update"),
        ("deal", deals[moved["Id"]], "update"),
        ("deal", deals[deleted["Id"]], "delete"),
        ("deal", deals[made["Id"]], "create"),
        ("account", accounts[account["Id"]], "update"),
    }
    assert ("activity", tasks[task["Id"]], "delete") in changes
    assert not {c for c in changes if c[0] == "stakeholder" and c[2] != "delete"}
    await assert_store_equals_org(db, tenant, org)
    async with db.uow(tenant) as uow:
        won = await uow.deals.get(deals[moved["Id"]])
        assert won is not None and won.stage is Stage.CLOSED_WON
        assert (await uow.transitions.for_deal(won.id))[-1].to_stage is Stage.CLOSED_WON

    seq = await latest(db, tenant)
    again = await run(db, tenant, source(emulator))  # nothing changed since: nothing written

    assert await changed_since(db, tenant, seq) == set()
    assert again.deleted == {}
    assert sum(c.created + c.updated for c in again.report.counts.values()) == 0


async def test_a_rate_limit_and_quota_storm_resumes_without_loss_or_duplicates(
    db: Database, emulator: SalesforceEmulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    emulator.fail(429, at=4, times=3)  # retried
    emulator.fail(503, at=12, times=2)  # retried
    emulator.fail(403, at=40)  # the daily quota: stop, checkpoint, report

    first = await run(db, tenant, source(emulator))

    assert first.stopped is not None and "REQUEST_LIMIT_EXCEEDED" in first.stopped
    partial = await count_all(db, tenant)
    assert sum(partial.values()) > 0
    assert first.report.cursors  # checkpointed

    second = await run(db, tenant, source(emulator))

    assert second.stopped is None
    await assert_store_equals_org(db, tenant, emulator.org)
    assert second.report.cursors


async def test_a_crash_mid_sync_then_a_rerun_loses_and_duplicates_nothing(
    db: Database, emulator: SalesforceEmulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    emulator.fail(500, at=30, times=4)  # more than the client's 4 tries

    with pytest.raises(TransientError):
        await run(db, tenant, source(emulator))
    assert sum((await count_all(db, tenant)).values()) > 0

    await run(db, tenant, source(emulator))

    await assert_store_equals_org(db, tenant, emulator.org)


async def test_an_expired_token_is_refreshed(db: Database, emulator: SalesforceEmulator) -> None:
    tenant = (await db.new_tenant()).tenant.id
    src = source(emulator, refresh=False)  # the client-credentials flow
    await run(db, tenant, src)
    opportunity = emulator.org.live("Opportunity")[0]
    emulator.org.update(opportunity["Id"], {"Amount": 777.0})
    emulator.expire_tokens()

    await run(db, tenant, src)

    assert src.client.refreshes == 2
    await assert_store_equals_org(db, tenant, emulator.org)


async def test_a_bad_record_is_reported_and_the_rest_lands(
    db: Database, emulator: SalesforceEmulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    bad = emulator.org.live("Opportunity")[3]
    emulator.org.update(bad["Id"], {"Amount": -500.0})  # Salesforce allows it, PIE does not

    result = await run(db, tenant, source(emulator))

    first, *others = result.report.rejected
    assert (first.record_id, first.field) == (bad["Id"], "Amount")
    assert "negative" in first.problem
    # what refers to it is reported too, naming it; everything else landed
    assert others and all(bad["Id"] in r.problem or r.record_id == bad["Id"] for r in others)
    counts = await count_all(db, tenant)
    org = emulator.org
    assert counts["deals"] == len(org.live("Opportunity")) - 1
    assert counts["accounts"] == len(org.live("Account"))
    assert counts["contacts"] == len(org.live("Contact"))
    tasks = [t for t in org.live("Task") + org.live("Event") if t["WhatId"] != bad["Id"]]
    assert counts["activities"] == len(tasks)

    # fixed in Salesforce: it lands, and so does what refers to it (past the cursor by now)
    org.update(bad["Id"], {"Amount": 500.0})
    fixed = await run(db, tenant, source(emulator))

    assert fixed.report.rejected == ()
    await assert_store_equals_org(db, tenant, org)


async def test_deletes_past_the_recycle_bin_horizon_are_reconciled(
    db: Database, emulator: SalesforceEmulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    org = emulator.org
    await run(db, tenant, source(emulator))
    gone = org.live("Opportunity")[2]
    contact = next(c for c in org.live("Contact") if c["AccountId"] != gone["AccountId"])
    org.delete(gone["Id"])
    org.delete(contact["Id"])
    org.purge_recycle_bin()  # getDeleted can no longer tell: its earliest date moves on

    result = await run(db, tenant, source(emulator))

    assert {"Opportunity", "Contact"} <= set(result.reconciled)
    assert result.deleted.get("deal") == 1
    await assert_store_equals_org(db, tenant, org)


async def test_a_custom_stage_made_later_maps_from_its_metadata(
    db: Database, emulator: SalesforceEmulator
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    org = emulator.org
    await run(db, tenant, source(emulator))
    org.add_stage("Security Review", probability=60, closed=False, won=False)
    deal = org.live("Opportunity")[0]  # reopened, if it was closed
    org.update(deal["Id"], {"StageName": "Security Review"})

    result = await run(db, tenant, source(emulator))

    assert result.report.rejected == ()
    ids = await resolve(db, tenant, EntityKind.DEAL, [deal["Id"]])
    async with db.uow(tenant) as uow:
        stored = await uow.deals.get(ids[deal["Id"]])
        assert stored is not None
        assert (stored.stage, stored.source_stage) == (Stage.PROPOSAL, "Security Review")
        assert stored.probability == pytest.approx(0.6)
        assert (await uow.transitions.for_deal(stored.id))[-1].to_stage is Stage.PROPOSAL


#: Each upserted stream's object, to check its cursor against the store.
STREAM_OBJECTS = {
    "accounts": ("Account", EntityKind.ACCOUNT),
    "contacts": ("Contact", EntityKind.CONTACT),
    "deals": ("Opportunity", EntityKind.DEAL),
    "contact_roles": ("OpportunityContactRole", EntityKind.STAKEHOLDER),
    "tasks": ("Task", EntityKind.ACTIVITY),
    "calendar_events": ("Event", EntityKind.ACTIVITY),
}


@pytest.mark.parametrize("quota_at", [9, 23])
async def test_a_stop_while_pages_are_read_ahead_commits_no_cursor_past_an_unstored_record(
    db: Database, emulator: SalesforceEmulator, quota_at: int
) -> None:
    """Pages are fetched ahead of storing; when the quota stops the reading, every record at
    or before each committed cursor is stored (the pages read ahead are stored first)."""
    tenant = (await db.new_tenant()).tenant.id
    emulator.fail(403, at=quota_at)

    result = await run(db, tenant, source(emulator))

    assert result.stopped is not None
    cursors = {s: c for s, c in result.report.cursors.items() if s in STREAM_OBJECTS}
    assert cursors
    for stream, cursor in cursors.items():
        sobject, kind = STREAM_OBJECTS[stream]
        stamp, ident = cursor.split("|", 1)
        upto = [
            r["Id"]
            for r in emulator.org.live(sobject)
            if (r["SystemModstamp"], r["Id"]) <= (stamp, ident)
        ]
        assert upto, stream
        assert set(await resolve(db, tenant, kind, upto)) == set(upto), stream
