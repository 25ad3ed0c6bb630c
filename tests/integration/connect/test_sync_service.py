"""Connections and syncs through the use cases, with the fake vendor, on SQLite and
PostgreSQL: credentials checked before anything is stored, a full then incremental sync, bad
records reported while the rest lands, a stop mid-sync that loses and duplicates nothing, one
sync of a connection at a time, refreshed tokens kept."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pie.domain.errors import Conflict, InvalidInput, PermanentError, TransientError
from pie.domain.model import EntityKind
from pie.ports.connections import ACTIVE, FAILED
from pie.services import connections as svc
from pie.services.connections import SyncDeps
from tests.dbfixtures import Database
from tests.fakes.connector import GOOD_TOKEN, FakeApi, opportunity, transient


async def connect(deps: SyncDeps, tenant: UUID, **kw: object) -> UUID:
    values = {"api_token": GOOD_TOKEN, "account": "acme"}
    c, checked = await svc.connect(deps, tenant, "fakecrm", values, **kw)  # type: ignore[arg-type]
    assert checked == "fake account acme"
    return c.id


async def deal_count(db: Database, tenant: UUID) -> int:
    async with db.uow(tenant) as uow:
        return len(list(await uow.deals.list()))


async def test_connect_checks_the_credentials_before_storing_anything(
    deps: SyncDeps, tenant: UUID
) -> None:
    with pytest.raises(PermanentError, match="refused"):
        await svc.connect(deps, tenant, "fakecrm", {"api_token": "wrong-token-000"})
    with pytest.raises(InvalidInput, match="needs --api-token"):
        await svc.connect(deps, tenant, "fakecrm", {"account": "x"})
    with pytest.raises(InvalidInput, match="takes no 'password'"):
        await svc.connect(deps, tenant, "fakecrm", {"api_token": "t", "password": "p"})
    with pytest.raises(InvalidInput, match="no connector for 'nosuch'"):
        await svc.connect(deps, tenant, "nosuch", {})
    assert await deps.connections(tenant).list() == []
    assert await deps.credentials(tenant).names() == []

    cid = await connect(deps, tenant, schedule_minutes=30)
    c = await deps.connections(tenant).get(cid)
    assert c is not None and c.name == "fakecrm" and c.state == ACTIVE
    assert c.settings == {"account": "acme"}  # the plain field; the token is a credential
    assert GOOD_TOKEN not in repr(c)
    assert await deps.credentials(tenant).names() == ["connection:fakecrm"]
    assert c.next_run_at is not None


async def test_a_full_then_an_incremental_sync(
    deps: SyncDeps, tenant: UUID, db: Database, api: FakeApi
) -> None:
    cid = await connect(deps, tenant)
    first = await svc.run_sync(deps, tenant, cid, full=True)
    assert first.status == "succeeded" and first.full
    assert first.streams["deals"].read == 10
    assert first.counts["deal"].created == 10
    assert first.records_synced == 10
    assert await deal_count(db, tenant) == 10

    api.deals["00600003"] = opportunity(3, stage="Closed Won", modified=30)
    api.deals["00600011"] = opportunity(11, modified=31)
    second = await svc.run_sync(deps, tenant, cid)
    assert second.streams["deals"].read == 2  # only what changed since the cursor
    assert second.counts["deal"].created == 1 and second.counts["deal"].updated == 1
    assert await deal_count(db, tenant) == 11

    status = await svc.status(deps, None, tenant, await svc.find(deps, tenant, "fakecrm"))
    assert status.records_synced == 2 and status.errors == [] and status.state == ACTIVE
    assert status.last_sync is not None


async def test_a_bad_record_is_reported_with_its_id_and_the_rest_lands(
    deps: SyncDeps, tenant: UUID, db: Database, api: FakeApi
) -> None:
    api.deals["00600004"]["Amount"] = "lots"
    cid = await connect(deps, tenant)
    result = await svc.run_sync(deps, tenant, cid, full=True)
    assert result.status == "succeeded"
    assert result.counts["deal"].created == 9
    assert result.failed_total == 1
    [failed] = result.failed
    assert failed.record_id == "00600004" and failed.field == "Amount"
    assert await deal_count(db, tenant) == 9
    status = await svc.status(deps, None, tenant, await svc.find(deps, tenant, str(cid)))
    assert len(status.errors) == 1 and status.errors[0].startswith("00600004: Amount: ")


async def test_a_stop_mid_sync_keeps_what_was_committed_and_the_rerun_finishes(
    deps: SyncDeps, tenant: UUID, db: Database, api: FakeApi
) -> None:
    cid = await connect(deps, tenant)
    api.failures = [transient()]  # the first page fails at once: nothing read
    with pytest.raises(TransientError):
        await svc.run_sync(deps, tenant, cid)
    c = await deps.connections(tenant).get(cid)
    assert c is not None and c.state == FAILED
    assert c.last_result is not None and "503" in c.last_result["error"]

    result = await svc.run_sync(deps, tenant, cid)
    assert result.counts[EntityKind.DEAL.value].created == 10
    assert await deal_count(db, tenant) == 10
    again = await svc.run_sync(deps, tenant, cid, full=True)
    assert again.counts["deal"].unchanged == 10 and again.counts["deal"].created == 0
    assert await deal_count(db, tenant) == 10


async def test_one_connection_syncs_once_at_a_time(
    deps: SyncDeps, tenant: UUID, api: FakeApi
) -> None:
    cid = await connect(deps, tenant)
    api.stall = asyncio.Event()
    first = asyncio.create_task(svc.run_sync(deps, tenant, cid))
    await asyncio.sleep(0.05)
    with pytest.raises(Conflict, match="running already"):
        await svc.run_sync(deps, tenant, cid)
    api.stall.set()
    assert (await first).records_synced == 10


async def test_a_refreshed_token_is_stored_for_the_next_run(
    deps: SyncDeps, tenant: UUID, api: FakeApi
) -> None:
    values = {"client_id": "cid", "client_secret": "sec-123", "refresh_token": "rt-456"}
    c, checked = await svc.connect(deps, tenant, "fakecrm", values, auth="refresh-token")
    assert checked == "fake account (refreshed)" and api.refreshed == 1
    stored = await deps.credentials(tenant).get(c.credential)
    assert stored is not None
    assert {k: v.reveal() for k, v in stored.items()} == {
        "client_secret": "sec-123",
        "refresh_token": "rt-456",
        "api_token": GOOD_TOKEN,
    }
    assert (await svc.run_sync(deps, tenant, c.id)).records_synced == 10


async def test_a_token_refreshed_mid_sync_is_saved_without_waiting_on_the_sync(
    deps: SyncDeps, tenant: UUID, api: FakeApi, db: Database
) -> None:
    """On SQLite the sync's transaction holds the write lock while the source reads: saving
    the refreshed token in a transaction of its own would wait on it ("database is locked").
    It is saved as soon as the sync's transaction is over, and the sync goes on."""
    cid = await connect(deps, tenant)
    api.page_size, api.expire_after_pages = 2, 2
    result = await svc.run_sync(deps, tenant, cid, full=True)
    assert result.status == "succeeded" and result.records_synced == 10
    assert api.refreshed == 1
    c = await deps.connections(tenant).get(cid)
    assert c is not None
    stored = await deps.credentials(tenant).get(c.credential)
    assert stored is not None and stored["access_token"].reveal() == "access-1"
    assert stored["api_token"].reveal() == GOOD_TOKEN  # merged with what was there
    assert await deal_count(db, tenant) == 10


async def test_reconnecting_updates_the_connection_and_names_are_per_vendor(
    deps: SyncDeps, tenant: UUID
) -> None:
    cid = await connect(deps, tenant)
    again = await connect(deps, tenant, base_url="http://127.0.0.1:1", schedule_minutes=5)
    assert again == cid
    c = await deps.connections(tenant).get(cid)
    assert c is not None and c.base_url == "http://127.0.0.1:1" and c.schedule_minutes == 5
    await connect(deps, tenant)  # new credentials only: the schedule stays
    c = await deps.connections(tenant).get(cid)
    assert c is not None and c.schedule_minutes == 5 and c.base_url is None
    with pytest.raises(InvalidInput, match="name"):
        await svc.connect(deps, tenant, "fakecrm", {"api_token": "x"}, name="bad name!")


async def test_due_schedules_are_claimed_once(deps: SyncDeps, tenant: UUID, db: Database) -> None:
    from pie.adapters.db.connections import SqlSyncSchedule

    schedule = SqlSyncSchedule(db.sessions)
    cid = await connect(deps, tenant, schedule_minutes=10)
    other = (await db.new_tenant("connect")).tenant.id
    oid = await connect(deps, other, schedule_minutes=10)
    now = datetime.now(UTC)
    assert [d for d in await schedule.claim_due(now) if d.tenant_id in (tenant, other)] == []
    later = now + timedelta(minutes=11)
    claims = await asyncio.gather(schedule.claim_due(later), schedule.claim_due(later))
    mine = [d for claim in claims for d in claim if d.tenant_id in (tenant, other)]
    assert sorted(str(d.connection_id) for d in mine) == sorted([str(cid), str(oid)])
    c = await deps.connections(tenant).get(cid)
    assert c is not None and c.next_run_at == later + timedelta(minutes=10)


async def test_the_in_process_scheduler_runs_each_due_sync_once(
    deps: SyncDeps, tenant: UUID, db: Database, api: FakeApi
) -> None:
    from pie.adapters.db.connections import SqlSyncSchedule
    from pie.adapters.jobs import InProcessQueue, run_local_scheduler

    cid = await connect(deps, tenant, schedule_minutes=60)
    store = deps.connections(tenant)
    c = await store.get(cid)
    assert c is not None
    await store.save(dataclasses.replace(c, next_run_at=datetime.now(UTC) - timedelta(seconds=1)))
    queue = InProcessQueue(deps)
    stop = asyncio.Event()
    runner = asyncio.create_task(
        run_local_scheduler(SqlSyncSchedule(db.sessions), queue, every=0.05, stop=stop)
    )
    for _ in range(100):
        await asyncio.sleep(0.05)
        got = await store.get(cid)
        if got is not None and got.last_sync_at is not None:
            break
    await asyncio.sleep(0.3)  # more rounds: nothing is due again for an hour
    stop.set()
    await runner
    assert api.syncs == 1
    got = await store.get(cid)
    assert got is not None and got.last_job_id is not None
    job = await queue.job(got.last_job_id)
    assert job is not None and job.status == "succeeded"
    assert await deal_count(db, tenant) == 10


async def test_a_connectors_error_never_carries_the_token(
    deps: SyncDeps, tenant: UUID, api: FakeApi
) -> None:
    cid = await connect(deps, tenant)
    api.failures = [transient(f"the API said: bad header 'Bearer {GOOD_TOKEN}'")]
    with pytest.raises(TransientError) as err:
        await svc.run_sync(deps, tenant, cid)
    assert GOOD_TOKEN not in str(err.value) and "Bearer **********" in str(err.value)
    c = await deps.connections(tenant).get(cid)
    assert c is not None and c.last_result is not None
    assert GOOD_TOKEN not in str(c.last_result)


async def test_a_paused_connection_is_not_scheduled(
    deps: SyncDeps, tenant: UUID, db: Database
) -> None:
    from pie.adapters.db.connections import SqlSyncSchedule

    cid = await connect(deps, tenant, schedule_minutes=10)
    c = await svc.find(deps, tenant, str(cid))
    paused = await svc.reschedule(deps, tenant, c, paused=True)
    assert paused.state == "paused" and paused.schedule_minutes == 10
    later = datetime.now(UTC) + timedelta(minutes=11)
    schedule = SqlSyncSchedule(db.sessions)
    assert cid not in {d.connection_id for d in await schedule.claim_due(later)}
    await svc.reschedule(deps, tenant, paused, paused=False, every_minutes=5)
    claimed = await schedule.claim_due(datetime.now(UTC) + timedelta(minutes=6))
    assert cid in {d.connection_id for d in claimed}
    with pytest.raises(InvalidInput):
        await svc.reschedule(deps, tenant, paused, every_minutes=0)


async def test_a_sync_hands_what_it_brought_to_the_import_hook(
    deps: SyncDeps, tenant: UUID, db: Database
) -> None:
    from pie.importing.report import ConversationCounts

    seen: list[tuple[str, int]] = []

    class Hook:
        async def mark(self) -> int:
            async with db.uow(tenant) as uow:
                seen.append(("mark", await uow.changes.latest()))
            return seen[-1][1]

        async def after(self, since: int) -> ConversationCounts:
            async with db.uow(tenant) as uow:
                assert await uow.changes.latest() > since  # the sync's records are committed
            seen.append(("after", since))
            return ConversationCounts(processed=2, deals_created=1)

    hooked = dataclasses.replace(deps, after_import=lambda _t: Hook())
    result = await svc.run_sync(hooked, tenant, await connect(hooked, tenant), full=True)
    assert seen == [("mark", seen[0][1]), ("after", seen[0][1])]
    assert result.conversations is not None and result.conversations["processed"] == 2
