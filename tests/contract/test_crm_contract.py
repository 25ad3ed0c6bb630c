"""The CRM adapter contract (``pie.ports.crm``), one suite over every adapter: the in-memory
fake, the store adapter on SQLite and on PostgreSQL, and (added by the Notion work) the Notion
adapter against its emulator.

To add an adapter: add a name to ``ADAPTERS`` and a branch to ``_harness`` that yields a
``Harness`` (the adapter, and how to make a record stale for ``changes_since``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from pie.domain.crm_fields import RecordKind
from pie.ports.crm import ActivityInput, CrmAdapter, CrmRecord, CrmRejected, FieldValue
from tests.contract.crm_notion_harness import notion_harness
from tests.contract.crm_store_harness import store_harness
from tests.fakes.crm import FakeCrm, VirtualClock


@dataclass
class Harness:
    adapter: CrmAdapter
    #: let time pass on the adapter's side (a no-op where the clock is real)
    advance: Callable[[float], Awaitable[None]]


ADAPTERS = [
    "fake",
    "store-sqlite",
    pytest.param("store-postgresql", marks=pytest.mark.postgres),
    "notion-emulator",
]


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture(params=ADAPTERS)
def crm_backend(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """The adapter's name and what it runs on (the database for the store adapter)."""
    name: str = request.param
    if name == "store-sqlite":
        return name, request.getfixturevalue("sqlite_db")
    if name == "store-postgresql":
        return name, request.getfixturevalue("postgres_db")
    return name, None


@pytest_asyncio.fixture
async def crm(crm_backend: tuple[str, Any]) -> AsyncIterator[Harness]:
    name, backend = crm_backend
    if name == "fake":
        clock = VirtualClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        yield Harness(FakeCrm(clock), advance)
    elif name.startswith("store-"):
        async with store_harness(backend) as adapter:
            yield Harness(adapter, _no_wait)
    elif name == "notion-emulator":
        async with notion_harness() as (notion, _, emulator_clock):

            async def advance_notion(seconds: float) -> None:
                emulator_clock.advance(seconds)

            yield Harness(notion, advance_notion)
    else:  # pragma: no cover - a name without a harness is a mistake in this file
        raise AssertionError(name)


DEAL: dict[str, FieldValue] = {
    "name": "Acme renewal",
    "stage": "demo",
    "value": 12000.0,
    "owner": "dana",
}


async def test_create_get_and_results_carry_ids_and_edit_times(crm: Harness) -> None:
    a = crm.adapter
    pie_id = uuid4()
    made = await a.create_deal(pie_id, DEAL)
    assert made.created
    assert made.external_id and made.record.pie_id == pie_id
    assert made.last_edited_by
    assert made.last_edited_time.tzinfo is not None
    got = await a.get_deal(made.external_id)
    assert got is not None
    assert got.external_id == made.external_id and got.pie_id == pie_id
    for name, value in DEAL.items():
        assert got.fields[name] == value
    assert not got.in_trash
    # where the CRM names a record's creator, the adapter's own creates name its own actor
    assert got.created_by in (None, a.capabilities.self_actor)
    assert made.record.created_by == got.created_by


async def test_time_precision_is_what_the_capabilities_say(crm: Harness) -> None:
    made = await crm.adapter.create_deal(uuid4(), DEAL)
    precision = crm.adapter.capabilities.time_precision
    if precision >= 60:
        assert made.last_edited_time.second == 0 and made.last_edited_time.microsecond == 0


async def test_a_retried_create_finds_the_record_instead_of_duplicating(crm: Harness) -> None:
    a = crm.adapter
    pie_id = uuid4()
    first = await a.create_deal(pie_id, DEAL)
    again = await a.create_deal(pie_id, {**DEAL, "name": "something else"})
    assert not again.created
    assert again.external_id == first.external_id
    found = await a.find_by_pie_id(RecordKind.DEAL, pie_id)
    assert found is not None and found.external_id == first.external_id
    assert await a.find_by_pie_id(RecordKind.DEAL, uuid4()) is None
    listed = await _all(a, RecordKind.DEAL)
    assert [r.external_id for r in listed].count(first.external_id) == 1
    assert sum(1 for r in listed if r.pie_id == pie_id) == 1


async def test_an_update_changes_only_the_fields_it_carries(crm: Harness) -> None:
    a = crm.adapter
    made = await a.create_deal(uuid4(), DEAL)
    await crm.advance(61)
    updated = await a.update_deal(made.external_id, {"stage": "proposal"})
    assert updated.external_id == made.external_id
    assert updated.record.fields["stage"] == "proposal"
    assert updated.record.fields["name"] == DEAL["name"]
    assert updated.record.fields["owner"] == DEAL["owner"]
    assert updated.last_edited_time >= made.last_edited_time
    cleared = await a.update_deal(made.external_id, {"value": None})
    assert cleared.record.fields["value"] is None
    assert cleared.record.fields["stage"] == "proposal"


async def test_updating_a_record_that_is_not_there_is_a_404(crm: Harness) -> None:
    missing = str(uuid4()) if not isinstance(crm.adapter, FakeCrm) else "deal-99999"
    with pytest.raises(CrmRejected) as err:
        await crm.adapter.update_deal(missing, {"stage": "demo"})
    assert err.value.status == 404 and not err.value.retryable
    assert await crm.adapter.get_deal(missing) is None


async def test_contacts_are_their_own_records(crm: Harness) -> None:
    a = crm.adapter
    made = await a.create_contact(uuid4(), {"name": "Ada", "email": "ada@example.com"})
    assert made.created
    up = await a.update_contact(made.external_id, {"title": "CTO"})
    assert up.record.fields["title"] == "CTO"
    assert up.record.fields["email"] == "ada@example.com"
    assert await a.get_contact(made.external_id) is not None
    deals = await _all(a, RecordKind.DEAL)
    assert made.external_id not in {d.external_id for d in deals}


async def test_changes_since_is_inclusive_ascending_and_paged(crm: Harness) -> None:
    a = crm.adapter
    start = datetime.now(UTC) - timedelta(days=3650)
    made = []
    for i in range(5):
        made.append(await a.create_deal(uuid4(), {**DEAL, "name": f"deal {i}"}))
        await crm.advance(30)
    seen: list[str] = []
    times: list[datetime] = []
    cursor = None
    pages = 0
    while True:
        page = await a.changes_since(RecordKind.DEAL, start, cursor=cursor, page_size=2)
        pages += 1
        assert len(page.records) <= 2 and page.complete
        seen += [r.external_id for r in page.records]
        times += [r.last_edited_time for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages >= 3
    assert {m.external_id for m in made} <= set(seen)
    assert len(seen) == len(set(seen))
    assert times == sorted(times)
    last = made[-1].record
    inclusive = await a.changes_since(RecordKind.DEAL, last.last_edited_time)
    assert last.external_id in {r.external_id for r in inclusive.records}
    later = await a.changes_since(RecordKind.DEAL, last.last_edited_time + timedelta(days=1))
    assert later.records == [] or all(
        r.last_edited_time >= last.last_edited_time + timedelta(days=1) for r in later.records
    )


async def test_trash_is_soft_and_hides_the_record_from_reads(crm: Harness) -> None:
    a = crm.adapter
    if not a.capabilities.trash:
        made = await a.create_deal(uuid4(), DEAL)
        with pytest.raises(CrmRejected):
            await a.set_trash(RecordKind.DEAL, made.external_id, True)
        return
    made = await a.create_deal(uuid4(), DEAL)
    trashed = await a.set_trash(RecordKind.DEAL, made.external_id, True)
    assert trashed.record.in_trash
    got = await a.get_deal(made.external_id)
    assert got is not None and got.in_trash
    assert made.external_id not in {r.external_id for r in await _all(a, RecordKind.DEAL)}
    since = made.last_edited_time - timedelta(minutes=5)
    page = await a.changes_since(RecordKind.DEAL, since)
    assert made.external_id not in {r.external_id for r in page.records}
    restored = await a.set_trash(RecordKind.DEAL, made.external_id, False)
    assert not restored.record.in_trash
    assert made.external_id in {r.external_id for r in await _all(a, RecordKind.DEAL)}


async def test_an_activity_is_appended_once_per_pie_id(crm: Harness) -> None:
    a = crm.adapter
    deal = await a.create_deal(uuid4(), DEAL)
    act = ActivityInput(uuid4(), "call", datetime(2026, 1, 5, 10, tzinfo=UTC), "Kick-off")
    first = await a.create_activity(deal.external_id, act)
    again = await a.create_activity(deal.external_id, act)
    assert first.created and not again.created
    assert again.external_id == first.external_id
    listed = await a.list_activities(deal.external_id)
    assert [x.pie_id for x in listed] == [act.pie_id]


async def test_capabilities_name_the_synced_fields(crm: Harness) -> None:
    caps = crm.adapter.capabilities
    assert caps.name and caps.self_actor
    assert set(DEAL) <= caps.fields[RecordKind.DEAL]
    assert {"name", "email"} <= caps.fields[RecordKind.CONTACT]
    assert 1 <= caps.max_page_size <= 100


async def _all(a: CrmAdapter, kind: RecordKind) -> list[CrmRecord]:
    out: list[CrmRecord] = []
    cursor = None
    while True:
        page = await a.list_records(kind, cursor=cursor, page_size=100)
        out += list(page.records)
        cursor = page.next_cursor
        if cursor is None:
            return out
