from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from pie.domain.model import EntityKind, derive_id
from pie.domain.stages import Stage
from pie.importing import import_file
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork
from tests.unit.importing.files import (
    GENERIC_HISTORY,
    HS_HEADER,
    HS_ROWS,
    SF_HEADER,
    SF_HISTORY,
    SF_ROWS,
    csv_text,
    write,
)


def rows(store: InMemoryStore, tenant: UUID, table: str) -> list:  # type: ignore[type-arg]
    return list(store.tables_for(tenant).rows[table].values())


async def test_imports_a_salesforce_export_with_its_opportunity_history(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS))
    history = write(tmp_path / "history.csv", SF_HISTORY)

    report = await import_file(InMemoryUnitOfWork(tenant, store), deals, history=history)

    assert report.format == "salesforce-csv"
    assert report.source == "salesforce"
    assert report.table() == [
        ("account", 2, 0, 0, 0),
        ("deal", 3, 0, 0, 0),
        ("stage_transition", 5, 0, 0, 0),
    ]
    acme = store.tables_for(tenant).rows["deals"][
        derive_id(tenant, EntityKind.DEAL, "salesforce", "006A")
    ]
    assert acme.name == "Acme renewal"
    assert acme.stage is Stage.NEGOTIATION
    assert acme.source_stage == "Negotiation/Review"
    assert acme.value == Decimal("48000.00")
    assert acme.probability == 0.9
    assert acme.expected_close == date(2025, 6, 30)
    assert acme.owner == "Ann Lee"
    assert acme.lead_source == "Web"
    assert acme.custom_fields == {"Type": "Renewal"}
    assert _source_ids(store, tenant, EntityKind.DEAL, acme.id) == {"salesforce": "006A"}
    assert acme.created_at == datetime(2025, 1, 10, 9, 12, 3, tzinfo=UTC)
    account = store.tables_for(tenant).rows["accounts"][acme.account_id]
    assert account.name == "Acme Corp"
    assert _source_ids(store, tenant, EntityKind.ACCOUNT, account.id) == {"salesforce": "001A"}
    globex = store.tables_for(tenant).rows["deals"][
        derive_id(tenant, EntityKind.DEAL, "salesforce", "006C")
    ]
    assert (globex.stage, globex.currency) == (Stage.CLOSED_WON, "EUR")
    assert globex.closed_at == datetime(2025, 4, 15, tzinfo=UTC)

    acme_history = sorted(
        (t for t in rows(store, tenant, "transitions") if t.deal_id == acme.id), key=lambda t: t.at
    )
    assert [(t.from_stage, t.to_stage) for t in acme_history] == [
        (None, Stage.LEAD),
        (Stage.LEAD, Stage.QUALIFICATION),
        (Stage.QUALIFICATION, Stage.NEGOTIATION),
    ]
    assert [t.days_in_from_stage for t in acme_history] == [None, 10.0, 90.0]
    last = acme_history[-1]
    assert (last.value, last.probability, last.expected_close) == (
        Decimal(48000),
        0.9,
        date(2025, 6, 30),
    )
    # rows of one deal may come in any order: 006C's are sorted by time
    globex_history = sorted(
        (t for t in rows(store, tenant, "transitions") if t.deal_id == globex.id),
        key=lambda t: t.at,
    )
    assert [(t.from_stage, t.to_stage) for t in globex_history] == [
        (None, Stage.LEAD),
        (Stage.LEAD, Stage.CLOSED_WON),
    ]
    refs = store.tables_for(tenant).refs
    assert {(k.value, x) for k, _, x in refs} == {
        ("account", "001A"),
        ("account", "001G"),
        ("deal", "006A"),
        ("deal", "006B"),
        ("deal", "006C"),
    }
    assert store.commits == 1


async def test_imports_a_hubspot_export_with_a_generic_history(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    deals = write(tmp_path / "deals.csv", csv_text(HS_HEADER, HS_ROWS))
    history = write(tmp_path / "changes.csv", GENERIC_HISTORY)

    report = await import_file(InMemoryUnitOfWork(tenant, store), deals, history=history)

    assert report.format == "hubspot-csv"
    assert report.table() == [
        ("account", 2, 0, 0, 0),
        ("deal", 3, 0, 0, 0),
        ("stage_transition", 3, 0, 0, 0),
    ]
    table = store.tables_for(tenant).rows["deals"]
    initech = table[derive_id(tenant, EntityKind.DEAL, "hubspot", "101")]
    hooli = table[derive_id(tenant, EntityKind.DEAL, "hubspot", "102")]
    addon = table[derive_id(tenant, EntityKind.DEAL, "hubspot", "103")]
    assert (initech.stage, initech.probability, initech.owner) == (
        Stage.NEGOTIATION,
        0.9,
        "Cy Diaz",
    )
    assert initech.created_at == datetime(2025, 2, 3, 10, tzinfo=UTC)
    assert hooli.stage is Stage.LEAD
    assert addon.stage is Stage.CLOSED_LOST  # "Closed Lost (Sales Pipeline)"
    assert addon.account_id == initech.account_id  # the same company, one account
    accounts = store.tables_for(tenant).rows["accounts"]
    assert accounts[hooli.account_id].name == "Hooli"  # the first of several associations
    assert _source_ids(store, tenant, EntityKind.ACCOUNT, hooli.account_id) == {"hubspot": "9002"}
    changes = sorted(rows(store, tenant, "transitions"), key=lambda t: t.at)
    assert [(t.from_stage, t.to_stage, t.days_in_from_stage) for t in changes] == [
        (None, Stage.LEAD, None),
        (Stage.LEAD, Stage.QUALIFICATION, 10.0),
        (Stage.QUALIFICATION, Stage.NEGOTIATION, 30.5),
    ]
    assert {t.deal_id for t in changes} == {initech.id}


async def test_importing_the_same_files_again_changes_nothing(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS))
    history = write(tmp_path / "history.csv", SF_HISTORY)
    await import_file(InMemoryUnitOfWork(tenant, store), deals, history=history)
    before = store.tables_for(tenant)

    again = await import_file(InMemoryUnitOfWork(tenant, store), deals, history=history)

    assert (again.created, again.updated, again.skipped) == (0, 0, 0)
    assert again.unchanged == 2 + 3 + 5
    after = store.tables_for(tenant)
    assert after.rows == before.rows
    assert after.refs == before.refs


async def test_a_changed_row_updates_its_deal_and_keeps_the_account_details(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    await import_file(
        InMemoryUnitOfWork(tenant, store), write(tmp_path / "a.csv", csv_text(SF_HEADER, SF_ROWS))
    )
    changed = [SF_ROWS[0].replace("Negotiation/Review", "Closed Won"), *SF_ROWS[1:]]
    report = await import_file(
        InMemoryUnitOfWork(tenant, store), write(tmp_path / "b.csv", csv_text(SF_HEADER, changed))
    )
    assert report.count(EntityKind.DEAL).to_dict() == {
        "created": 0,
        "updated": 1,
        "unchanged": 2,
        "skipped": 0,
    }
    assert report.count(EntityKind.ACCOUNT).unchanged == 2


async def test_skip_bad_rows_stores_the_good_rows_and_lists_the_bad_ones(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    bad = [
        SF_ROWS[0],
        SF_ROWS[1].replace("12000", "-12000"),
        SF_ROWS[2].replace("2025-04-15,", "someday,", 1),
        SF_ROWS[0].replace("Acme renewal", "Acme again"),
    ]
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, bad))

    report = await import_file(InMemoryUnitOfWork(tenant, store), deals, skip_bad_rows=True)

    assert report.count(EntityKind.DEAL).to_dict() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": 3,
    }
    assert [(r.record, r.record_id, r.field) for r in report.rejected] == [
        ("line 3", "006B", "Amount"),
        ("line 4", "006C", "Close Date"),
        ("line 5", "006A", "Opportunity ID"),
    ]
    assert "must not be negative" in report.rejected[0].problem
    assert report.rejected[0].source == str(deals)
    assert [d.name for d in rows(store, tenant, "deals")] == ["Acme renewal"]
    assert report.to_dict()["rejected"][2]["problem"] == "'006A' appears more than once in the file"


async def test_accepts_a_utf8_byte_order_mark_and_us_dates(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    row = SF_ROWS[1].replace("2025-09-30,2025-03-01T10:00:00Z", "9/30/2025,3/1/2025 10:00 AM")
    deals = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + csv_text(SF_HEADER, [row]).encode())

    report = await import_file(InMemoryUnitOfWork(tenant, store), deals)

    assert report.count(EntityKind.DEAL).created == 1
    deal = rows(store, tenant, "deals")[0]
    assert deal.expected_close == date(2025, 9, 30)
    assert deal.created_at == datetime(2025, 3, 1, 10, tzinfo=UTC)


async def test_reports_progress_in_bytes_and_writes_in_chunks(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    many = [
        f"006{i:05d},Deal {i},001{i % 7},Account {i % 7},Qualification,{i},10,2025-06-30,"
        "2025-01-10T09:12:03Z,,,,,,,USD"
        for i in range(250)
    ]
    deals = write(tmp_path / "many.csv", csv_text(SF_HEADER, many))
    seen: list[tuple[int, int]] = []

    report = await import_file(
        InMemoryUnitOfWork(tenant, store),
        deals,
        chunk_size=100,
        progress=lambda d, t: seen.append((d, t)),
    )

    assert report.table() == [("account", 7, 0, 0, 0), ("deal", 250, 0, 0, 0)]
    size = deals.stat().st_size
    assert seen[-1] == (size, size)
    assert len(seen) >= 3
    assert all(t == size for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_stage_metadata_in_the_row_maps_unknown_closed_stages(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    row = SF_ROWS[2].replace("Closed Won", "Signed (custom)")
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, [row]))
    await import_file(InMemoryUnitOfWork(tenant, store), deals)
    assert rows(store, tenant, "deals")[0].stage is Stage.CLOSED_WON


async def test_a_stage_map_file_maps_custom_stages(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    row = SF_ROWS[1].replace("Prospecting", "Discovery Call")
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, [row]))
    stage_map = write(tmp_path / "map.toml", '[stages]\n"discovery call" = "discovery"\n')
    await import_file(InMemoryUnitOfWork(tenant, store), deals, stage_map=stage_map)
    assert rows(store, tenant, "deals")[0].stage is Stage.DISCOVERY


async def test_the_source_name_can_be_set_and_keeps_the_vendor_defaults(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS[:1]))
    report = await import_file(InMemoryUnitOfWork(tenant, store), deals, source="sf-emea")
    deal = rows(store, tenant, "deals")[0]
    assert report.source == "sf-emea"
    assert deal.id == derive_id(tenant, EntityKind.DEAL, "sf-emea", "006A")
    assert deal.stage is Stage.NEGOTIATION


def _source_ids(store: Any, tenant: Any, kind: EntityKind, ident: Any) -> dict[str, str]:
    """The source ids the store keeps for a record (its external refs)."""
    return {
        ref.source: ref.external_id
        for ref in store.tables_for(tenant).refs.values()
        if ref.kind == kind and ref.entity_id == ident
    }
