"""Absent is not empty, on both engines: a CSV re-import leaves alone what the CSV does not
carry (qualification, custom fields, columns it lacks), and an empty cell clears."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pie.domain.model import EntityKind, derive_id
from pie.importing import import_file
from tests.dbfixtures import Database
from tests.unit.importing.files import SF_HEADER, SF_ROWS, csv_text, write


def drop_column(header: str, rows: list[str], name: str) -> tuple[str, list[str]]:
    cols = header.split(",")
    i = cols.index(name)
    cut = [r.split(",") for r in rows]
    return ",".join(cols[:i] + cols[i + 1 :]), [",".join(c[:i] + c[i + 1 :]) for c in cut]


async def test_a_csv_reimport_keeps_what_it_does_not_carry(db: Database, tmp_path: Path) -> None:
    tenant = (await db.new_tenant()).tenant.id
    row = SF_ROWS[1]  # 006B: no quoted cells, so columns split on commas
    await import_file(db.uow(tenant), write(tmp_path / "a.csv", csv_text(SF_HEADER, [row])))
    deal_id = derive_id(tenant, EntityKind.DEAL, "salesforce", "006B")
    async with db.uow(tenant) as uow:
        deal = await uow.deals.get(deal_id)
        assert deal is not None
        enriched = dataclasses.replace(
            deal, qualification={"budget": {"status": "confirmed"}}, product_line="Platform"
        )
        await uow.deals.update(enriched, origin="pie")
        await uow.commit()

    # the same deal from a file without the Lead Source column and an empty Opportunity Owner
    header, rows = drop_column(SF_HEADER, [row], "Lead Source")
    rows = [rows[0].replace(",Ann Lee,", ",,")]
    report = await import_file(db.uow(tenant), write(tmp_path / "b.csv", csv_text(header, rows)))

    assert report.count(EntityKind.DEAL).updated == 1
    async with db.uow(tenant) as uow:
        after = await uow.deals.get(deal_id)
    assert after is not None
    assert after.qualification == {"budget": {"status": "confirmed"}}  # not carried: kept
    assert after.product_line == "Platform"  # no such column: kept
    assert after.lead_source == "Referral"  # the column is gone: kept
    assert after.owner is None  # an empty cell: cleared
    assert after.external_ids == {"salesforce": "006B"}
