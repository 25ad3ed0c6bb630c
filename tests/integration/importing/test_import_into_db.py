"""Imports into the real engines (SQLite and PostgreSQL): one transaction per file, idempotent
re-imports, and nothing stored from a bad file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.domain.model import Account, EntityKind, derive_id
from pie.domain.stages import Stage
from pie.importing import import_file
from pie.importing.report import EntityCounts
from tests.dbfixtures import Database
from tests.unit.importing.files import (
    GENERIC_HISTORY,
    HS_HEADER,
    HS_ROWS,
    SF_HEADER,
    SF_HISTORY,
    SF_ROWS,
    csv_text,
    pie_doc,
    write,
    write_json,
)


async def stored(db: Database, tenant: UUID) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.uow(tenant) as uow:
        for name in ("accounts", "contacts", "stakeholders", "deals", "activities", "transitions"):
            repo = getattr(uow, name)
            counts[name] = sum([len(batch) async for batch in repo.iter_all()])
    return {k: v for k, v in counts.items() if v}


async def test_salesforce_csv_with_history_imports_once_and_reimports_unchanged(
    db: Database, tmp_path: Path
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS))
    history = write(tmp_path / "history.csv", SF_HISTORY)

    first = await import_file(db.uow(tenant), deals, history=history, chunk_size=2)
    again = await import_file(db.uow(tenant), deals, history=history)

    assert first.table() == [
        ("account", 2, 0, 0, 0),
        ("deal", 3, 0, 0, 0),
        ("stage_transition", 5, 0, 0, 0),
    ]
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3 + 5)  # rows, history
    assert again.count(EntityKind.STAGE_TRANSITION).unchanged == 5
    assert await stored(db, tenant) == {"accounts": 2, "deals": 3, "transitions": 5}
    async with db.uow(tenant) as uow:
        deal_id = derive_id(tenant, EntityKind.DEAL, "salesforce", "006A")
        deal = await uow.deals.get(deal_id)
        changes = await uow.transitions.for_deal(deal_id)
        refs = await uow.refs.resolve(EntityKind.DEAL, "salesforce", ["006A", "006B", "006X"])
    assert deal is not None and deal.stage is Stage.NEGOTIATION
    assert [(c.from_stage, c.to_stage, c.days_in_from_stage) for c in changes] == [
        (None, Stage.LEAD, None),
        (Stage.LEAD, Stage.QUALIFICATION, 10.0),
        (Stage.QUALIFICATION, Stage.NEGOTIATION, 90.0),
    ]
    assert set(refs) == {"006A", "006B"}


async def test_hubspot_csv_with_generic_history(db: Database, tmp_path: Path) -> None:
    tenant = (await db.new_tenant()).tenant.id
    deals = write(tmp_path / "deals.csv", csv_text(HS_HEADER, HS_ROWS))
    history = write(tmp_path / "changes.csv", GENERIC_HISTORY)

    report = await import_file(db.uow(tenant), deals, history=history)

    assert report.table() == [
        ("account", 2, 0, 0, 0),
        ("deal", 3, 0, 0, 0),
        ("stage_transition", 3, 0, 0, 0),
    ]
    again = await import_file(db.uow(tenant), deals, history=history)
    assert (again.created, again.updated) == (0, 0)


async def test_pie_json_imports_every_entity_and_reimports_unchanged(
    db: Database, tmp_path: Path
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    path = write_json(tmp_path / "data.json", pie_doc())

    first = await import_file(db.uow(tenant), path, chunk_size=1)
    again = await import_file(db.uow(tenant), path)

    assert first.created == 12
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)  # the file's records
    assert await stored(db, tenant) == {
        "accounts": 2,
        "contacts": 2,
        "stakeholders": 2,
        "deals": 2,
        "activities": 1,
        "transitions": 3,
    }


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ([*SF_ROWS, SF_ROWS[1].replace("12000", "-1")], InvalidInput),
        (
            [*SF_ROWS, SF_ROWS[1].replace("006B", "006E").replace("Prospecting", "Parked")],
            UnmappedStages,
        ),
    ],
    ids=["negative amount on the last line", "unknown stage"],
)
async def test_a_bad_file_stores_nothing_even_after_chunks_were_written(
    db: Database, tmp_path: Path, rows: list[str], error: type[Exception]
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, rows))
    history = write(tmp_path / "history.csv", SF_HISTORY)

    with pytest.raises(error):
        await import_file(db.uow(tenant), deals, history=history, chunk_size=1)

    assert await stored(db, tenant) == {}
    async with db.uow(tenant) as uow:
        assert await uow.refs.resolve(EntityKind.DEAL, "salesforce", ["006A"]) == {}


async def test_skip_bad_rows_stores_the_good_rows(db: Database, tmp_path: Path) -> None:
    tenant = (await db.new_tenant()).tenant.id
    rows = [SF_ROWS[0], SF_ROWS[1].replace("2025-09-30", "not a date"), SF_ROWS[2]]
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, rows))

    report = await import_file(db.uow(tenant), deals, skip_bad_rows=True)

    assert [(r.record, r.field) for r in report.rejected] == [("line 3", "Close Date")]
    assert await stored(db, tenant) == {"accounts": 2, "deals": 2}


async def test_imports_are_kept_apart_by_tenant(db: Database, tmp_path: Path) -> None:
    a = (await db.new_tenant()).tenant.id
    b = (await db.new_tenant()).tenant.id
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS))
    await import_file(db.uow(a), deals)
    report = await import_file(db.uow(b), deals)
    assert report.count(EntityKind.DEAL).created == 3
    assert await stored(db, a) == await stored(db, b) == {"accounts": 2, "deals": 3}


async def test_a_first_load_in_batches_into_two_tenants_logs_each_record_once(
    db: Database, tmp_path: Path
) -> None:
    """A first load's batches are written as creates once the store is found to hold none of
    their ids (without reading stored rows): into each of two tenants every record is
    created, and the tenant's change feed has one create per record, numbered from 1 in the
    order written; the second tenant's load sees nothing of the first's."""
    path = write_json(tmp_path / "data.json", pie_doc())
    feeds = []
    for _ in range(2):
        tenant = (await db.new_tenant()).tenant.id
        report = await import_file(db.uow(tenant), path, chunk_size=2)
        assert (report.created, report.updated) == (12, 0)
        async with db.uow(tenant) as uow:
            changes = await uow.changes.list(limit=100)
        assert [c.seq for c in changes] == list(range(1, 13))
        assert {(c.op, c.version) for c in changes} == {("create", 1)}
        assert len({c.entity_id for c in changes}) == 12
        feeds.append([c.entity for c in changes])
    assert feeds[0] == feeds[1]


async def test_a_first_load_merges_a_record_stored_under_its_id_without_a_ref(
    db: Database, tmp_path: Path
) -> None:
    """A first load makes its writes ready as creates before reading the store; a record that
    is stored after all (here: under the id the source's id derives to, but without a ref) is
    merged as any re-import would merge it, not refused as a duplicate."""
    tenant = (await db.new_tenant()).tenant.id
    globex = derive_id(tenant, EntityKind.ACCOUNT, "crm-x", "A2")
    at = datetime(2024, 1, 1, tzinfo=UTC)
    async with db.uow(tenant) as uow:
        await uow.accounts.add(
            Account(
                id=globex,
                tenant_id=tenant,
                name="Globex (derived by PIE)",
                industry="Retail",
                created_at=at,
                updated_at=at,
            )
        )
        await uow.commit()
    path = write_json(tmp_path / "data.json", pie_doc())

    report = await import_file(db.uow(tenant), path, chunk_size=1)

    assert report.count(EntityKind.ACCOUNT) == EntityCounts(created=1, updated=1)
    async with db.uow(tenant) as uow:
        stored = await uow.accounts.get(globex)
        changes = await uow.changes.list(entity=EntityKind.ACCOUNT)
    assert stored is not None
    assert (stored.name, stored.industry) == ("Globex", "Retail")  # industry not carried
    assert [(c.entity_id, c.op) for c in changes] == [
        (globex, "create"),
        (derive_id(tenant, EntityKind.ACCOUNT, "crm-x", "A1"), "create"),
        (globex, "update"),
    ]
