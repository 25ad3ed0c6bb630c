from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from pie.domain.errors import Conflict, InvalidInput
from pie.domain.model import (
    ActivityOutcome,
    ActivityType,
    EntityKind,
    ExternalRef,
    StakeholderRole,
    derive_id,
)
from pie.domain.stages import Stage
from pie.importing import import_file
from pie.importing.json_stream import schema
from pie.ports.repositories import RecordBatch, UpsertCounts
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork
from tests.unit.importing.files import pie_doc, write, write_json

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ident(tenant: UUID, kind: EntityKind, ext: str) -> UUID:
    return derive_id(tenant, kind, "crm-x", ext)


async def test_imports_every_entity_of_a_pie_file(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "data.json", pie_doc())

    report = await import_file(InMemoryUnitOfWork(tenant, store), path, now=NOW)

    assert (report.format, report.source) == ("pie-json", "crm-x")
    assert report.table() == [
        ("account", 2, 0, 0, 0),
        ("contact", 2, 0, 0, 0),
        ("deal", 2, 0, 0, 0),
        ("stakeholder", 2, 0, 0, 0),
        ("activity", 1, 0, 0, 0),
        ("stage_transition", 3, 0, 0, 0),
    ]
    rows = store.tables_for(tenant).rows
    acme = rows["accounts"][ident(tenant, EntityKind.ACCOUNT, "A1")]
    assert (acme.employees, acme.annual_revenue) == (500, Decimal("1200000.5"))
    assert rows["accounts"][ident(tenant, EntityKind.ACCOUNT, "A2")].created_at == NOW
    deal = rows["deals"][ident(tenant, EntityKind.DEAL, "D1")]
    assert deal.account_id == acme.id
    assert (deal.stage, deal.value, deal.probability) == (Stage.PROPOSAL, Decimal(50000), 0.5)
    assert deal.custom_fields == {"score": 1.5}
    assert deal.source == "crm-x"
    won = rows["deals"][ident(tenant, EntityKind.DEAL, "D2")]
    assert won.stage is Stage.CLOSED_WON
    assert won.created_at == datetime(2025, 2, 28, 22, tzinfo=UTC)  # converted to UTC
    changes = sorted(rows["transitions"].values(), key=lambda t: t.at)
    activity = rows["activities"][ident(tenant, EntityKind.ACTIVITY, "ACT1")]
    assert [(t.from_stage, t.to_stage, t.days_in_from_stage) for t in changes] == [
        (None, Stage.LEAD, None),
        (Stage.LEAD, Stage.DISCOVERY, 10.0),
        (Stage.DISCOVERY, Stage.PROPOSAL, 30.5),
    ]
    assert changes[1].trigger_activity_id == activity.id
    assert changes[1].value == Decimal("40000.00")
    assert activity.type is ActivityType.MEETING
    assert activity.outcome is ActivityOutcome.POSITIVE
    assert activity.participants == (
        ident(tenant, EntityKind.CONTACT, "C1"),
        ident(tenant, EntityKind.CONTACT, "C2"),
    )
    assert activity.key_moments[0].at_seconds == 120.0
    stakeholders = {s.contact_id: s for s in rows["stakeholders"].values()}
    buyer = stakeholders[ident(tenant, EntityKind.CONTACT, "C1")]
    assert (buyer.roles, buyer.is_primary, buyer.deal_id, buyer.account_id) == (
        (StakeholderRole.ECONOMIC_BUYER,),
        True,
        deal.id,
        acme.id,
    )


async def test_reimporting_a_pie_file_changes_nothing(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "data.json", pie_doc())
    await import_file(InMemoryUnitOfWork(tenant, store), path)
    before = copy.deepcopy(store.tables_for(tenant).changes)
    again = await import_file(InMemoryUnitOfWork(tenant, store), path)
    # the file's 6 records (2 accounts, 2 contacts, 2 deals with their stakeholders and
    # history) are recognised by their digests: nothing is mapped or written again
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)
    assert store.tables_for(tenant).changes == before


async def test_records_may_refer_to_records_already_in_the_store(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    first = pie_doc(deals=[])
    await import_file(InMemoryUnitOfWork(tenant, store), write_json(tmp_path / "a.json", first))
    second = pie_doc(accounts=[], contacts=[])
    report = await import_file(
        InMemoryUnitOfWork(tenant, store), write_json(tmp_path / "b.json", second)
    )
    assert report.count(EntityKind.DEAL).created == 2
    assert report.count(EntityKind.STAKEHOLDER).created == 2


async def test_chunks_see_the_records_of_earlier_chunks(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "data.json", pie_doc())
    report = await import_file(InMemoryUnitOfWork(tenant, store), path, chunk_size=1)
    assert report.created == 12


async def test_skip_bad_rows_keeps_the_good_records_of_a_pie_file(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    data = pie_doc()
    data["accounts"][1]["employees"] = -3
    data["deals"][0]["stakeholders"][1]["contact"] = "C404"
    path = write_json(tmp_path / "data.json", data)

    report = await import_file(InMemoryUnitOfWork(tenant, store), path, skip_bad_rows=True)

    assert [(r.record, r.record_id, r.field) for r in report.rejected] == [
        ("accounts[1]", "A2", "employees"),
        ("deals[0]", "D1", "stakeholders[1].contact"),
        ("deals[1]", "D2", "account"),  # its account was rejected
    ]
    assert report.table() == [
        ("account", 1, 0, 0, 1),
        ("contact", 2, 0, 0, 0),
        ("deal", 0, 0, 0, 2),
    ]
    assert len(store.tables_for(tenant).rows["deals"]) == 0


async def test_a_byte_order_mark_and_a_missing_source_are_accepted(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    data = pie_doc()
    del data["source"]
    path = write(tmp_path / "data.json", b"\xef\xbb\xbf" + json.dumps(data).encode())
    report = await import_file(InMemoryUnitOfWork(tenant, store), path)
    assert report.source == "file"
    assert report.created == 12


def test_the_schema_covers_every_entity() -> None:
    defs = schema()["$defs"]
    for name in ("account", "contact", "deal", "stageChange", "stakeholder", "activity"):
        assert defs[name]["additionalProperties"] is False
    assert set(schema()["properties"]) == {"format", "source", "accounts", "contacts", "deals"}


async def test_a_write_failing_while_the_next_batch_is_read_stores_nothing(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    class FailingDeals:
        def __init__(self, deals: object) -> None:
            self._deals = deals

        def __getattr__(self, name: str) -> object:
            return getattr(self._deals, name)

        async def upsert_many(self, *args: object, **kwargs: object) -> object:
            raise Conflict("deals: a record was created by someone else at the same time")

    class FailingUnitOfWork(InMemoryUnitOfWork):
        async def __aenter__(self) -> FailingUnitOfWork:
            await super().__aenter__()
            self.deals = FailingDeals(self.deals)  # type: ignore[assignment]
            return self

    path = write_json(tmp_path / "data.json", pie_doc())
    uow = FailingUnitOfWork(tenant, store)
    assert uow.overlaps_writes  # batches are written while the next ones are read
    with pytest.raises(Conflict, match="deals"):
        await import_file(uow, path, chunk_size=1)
    assert all(not rows for rows in store.tables_for(tenant).rows.values())


async def test_batches_are_stored_in_order_while_later_ones_are_built(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    stored: list[EntityKind] = []

    class SlowBatch:
        def __init__(self, inner: RecordBatch) -> None:
            self._inner = inner

        async def add(self, *args: Any, **kwargs: Any) -> None:
            await self._inner.add(*args, **kwargs)

        async def add_refs(self, refs: Sequence[ExternalRef]) -> None:
            await self._inner.add_refs(refs)

        async def store(self) -> list[tuple[EntityKind, UpsertCounts]]:
            for _ in range(50):  # the reader builds later batches meanwhile
                await asyncio.sleep(0)
            counts = await self._inner.store()
            stored.extend(kind for kind, _ in counts)
            return counts

    class SlowStore(InMemoryUnitOfWork):
        def batch(self, *, origin: str) -> SlowBatch:  # type: ignore[override]
            return SlowBatch(super().batch(origin=origin))

    path = write_json(tmp_path / "data.json", pie_doc())
    report = await import_file(SlowStore(tenant, store), path, chunk_size=1)

    # one batch per record, stored in the file's order (a deal with its children)
    assert stored[:5] == [EntityKind.ACCOUNT] * 2 + [EntityKind.CONTACT] * 2 + [EntityKind.DEAL]
    assert stored.count(EntityKind.DEAL) == 2
    assert report.updated == 0
    deals = store.tables_for(tenant).rows["deals"]
    assert set(deals) == {ident(tenant, EntityKind.DEAL, d) for d in ("D1", "D2")}


async def test_a_bad_record_read_while_a_batch_is_written_fails_the_import_whole(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    data = pie_doc()
    data["deals"][-1]["created_at"] = "not a time"
    path = write_json(tmp_path / "data.json", data)
    with pytest.raises(InvalidInput, match=r"deals\[1\]"):
        await import_file(InMemoryUnitOfWork(tenant, store), path, chunk_size=1)
    assert all(not rows for rows in store.tables_for(tenant).rows.values())
