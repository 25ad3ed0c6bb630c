"""The connection store's contract, on the fake, SQLite and PostgreSQL: round trip, names
unique per tenant, tenants apart, and due schedules claimed once."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pie.adapters.db.connections import SqlConnectionStore, SqlSyncSchedule
from pie.domain.errors import Conflict, NotFound
from pie.ports.connections import ACTIVE, PAUSED, Connection, ConnectionStore, DueSync
from tests.dbfixtures import Database
from tests.fakes.connections import InMemoryConnections


@dataclass
class Stores:
    new_tenant: Callable[[], Awaitable[UUID]]
    store: Callable[[UUID], ConnectionStore]
    claim_due: Callable[[datetime], Awaitable[Sequence[DueSync]]]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        memory = InMemoryConnections()

        async def tenant() -> UUID:
            return uuid.uuid4()

        return Stores(tenant, memory.store, memory.claim_due)
    db: Database = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_db")

    async def new_tenant() -> UUID:
        return (await db.new_tenant("conn")).tenant.id

    return Stores(
        new_tenant,
        lambda t: SqlConnectionStore(db.sessions, t),
        SqlSyncSchedule(db.sessions).claim_due,
    )


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def connection(tenant: UUID, name: str = "salesforce", **kw: object) -> Connection:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant,
        "vendor": "salesforce",
        "name": name,
        "base_url": "https://127.0.0.1:8443",
        "auth": "refresh-token",
        "settings": {"client_id": "abc"},
        "credential": f"connection:{name}",
        "schedule_minutes": None,
        "state": ACTIVE,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(kw)
    return Connection(**values)  # type: ignore[arg-type]


async def test_a_connection_round_trips_and_changes(stores: Stores) -> None:
    t = await stores.new_tenant()
    store = stores.store(t)
    c = connection(t, last_result={"records_synced": 3})
    await store.add(c)
    got = await store.get(c.id)
    assert got == c and got is not None and got.last_result == {"records_synced": 3}
    assert await store.by_name("salesforce") == c
    changed = dataclasses.replace(
        c, state=PAUSED, last_job_id="42", last_sync_at=NOW, schedule_minutes=15, next_run_at=NOW
    )
    await store.save(changed)
    assert await store.get(c.id) == changed
    other = connection(t, "salesforce-eu")
    await store.add(other)
    assert [x.name for x in await store.list()] == ["salesforce", "salesforce-eu"]
    with pytest.raises(Conflict):
        await store.add(connection(t, "salesforce"))
    with pytest.raises(Conflict):
        await store.save(dataclasses.replace(other, name="salesforce"))
    assert await store.delete(c.id) is True and await store.delete(c.id) is False
    with pytest.raises(NotFound):
        await store.save(c)


async def test_tenants_are_apart(stores: Stores) -> None:
    a, b = await stores.new_tenant(), await stores.new_tenant()
    c = connection(a)
    await stores.store(a).add(c)
    assert await stores.store(b).get(c.id) is None
    assert await stores.store(b).by_name("salesforce") is None
    assert await stores.store(b).list() == []
    assert await stores.store(b).delete(c.id) is False
    await stores.store(b).add(connection(b))  # the same name in another tenant


async def test_due_schedules_are_claimed_once_and_move_on(stores: Stores) -> None:
    a, b = await stores.new_tenant(), await stores.new_tenant()
    due = connection(a, schedule_minutes=10, next_run_at=NOW - timedelta(minutes=1))
    later = connection(b, schedule_minutes=10, next_run_at=NOW + timedelta(minutes=5))
    paused = connection(a, "paused", schedule_minutes=10, next_run_at=NOW, state=PAUSED)
    manual = connection(b, "manual")
    for c in (due, later, paused, manual):
        await stores.store(c.tenant_id).add(c)
    claims = await asyncio.gather(stores.claim_due(NOW), stores.claim_due(NOW))
    mine = {due.id, later.id, paused.id, manual.id}
    claimed = [d for claim in claims for d in claim if d.connection_id in mine]
    assert [(d.tenant_id, d.connection_id) for d in claimed] == [(a, due.id)]
    moved = await stores.store(a).get(due.id)
    assert moved is not None and moved.next_run_at == NOW + timedelta(minutes=10)
    then = NOW + timedelta(minutes=11)
    claimed = [d for d in await stores.claim_due(then) if d.connection_id in mine]
    assert {d.connection_id for d in claimed} == {due.id, later.id}
