"""The mappers over API-shaped records (both vendors), the CSV header -> API field tables, the
fields a record carries, and the format registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.stage_mapping import StageMapper
from pie.domain.stages import Stage
from pie.importing import formats
from pie.importing.draft import Ids, Problem, Records, SeenIds
from pie.importing.formats import Format, Opened, Options
from pie.importing.mapping import MapContext, hubspot, salesforce
from pie.importing.mapping.pie_json import carried
from pie.importing.source import RawRecord
from pie.importing.sources.csv import CsvReportSource
from tests.unit.importing.files import HS_HEADER, HS_ROWS, SF_HEADER, SF_ROWS, csv_text, write

TENANT = uuid4()
NOW = datetime(2026, 1, 1, tzinfo=UTC)

SF_API = {
    "attributes": {"type": "Opportunity", "url": "/services/data/v62.0/sobjects/Opportunity/006"},
    "Id": "006Ho00000AbCdEIAV",
    "Name": "Acme renewal",
    "AccountId": "001Ho00000XyZaBIAV",
    "StageName": "Negotiation/Review",
    "Amount": 48000.0,
    "Probability": 80,
    "CloseDate": "2025-06-30",
    "IsClosed": False,
    "IsWon": False,
    "ForecastCategoryName": "Commit",
    "OwnerId": "005Ho000001QwErIAK",
    "CreatedDate": "2025-01-10T09:12:03.000+0000",
    "LastModifiedDate": "2025-05-02T14:00:00.000+0000",
    "SystemModstamp": "2025-05-02T14:00:00.000+0000",
    "IsDeleted": False,
    "CurrencyIsoCode": "EUR",
    "LeadSource": "Web",
    "Account": {"attributes": {"type": "Account", "url": "…"}, "Name": "Acme Corp"},
}

HS_API = {
    "id": "1234567890",
    "properties": {
        "dealname": "Acme renewal",
        "amount": "48000",
        "dealstage": "contractsent",
        "pipeline": "default",
        "hs_object_id": "1234567890",
        "closedate": "2025-06-30T00:00:00.000Z",
        "createdate": "2025-01-10T09:12:03.123Z",
        "hs_lastmodifieddate": "2025-05-02T14:00:00.000Z",
        "hs_is_closed": "false",
        "hs_is_closed_won": "false",
        "hs_deal_stage_probability": "0.9",
        "deal_currency_code": "USD",
        "hubspot_owner_id": "123",
        "closed_lost_reason": None,
    },
    "associations": {"companies": {"results": [{"id": "987", "type": "deal_to_company"}]}},
    "createdAt": "2025-01-10T09:12:03.123Z",
    "updatedAt": "2025-05-02T14:00:00.000Z",
    "archived": False,
}


def context(source: str, vendor: str | None = None) -> MapContext:
    return MapContext(StageMapper(source, {}, vendor=vendor), SeenIds(), NOW)


def build(ctx: MapContext, mapper: Any, data: Any, stream: str = "deals") -> Records:
    draft = mapper.draft(RawRecord(stream, data, "record 1"))
    assert draft is not None
    ids = Ids(TENANT, ctx.stages.source)
    ids.local.update({key: ids.own(*key) for key in draft.own})
    records: Records = draft.build(ids)
    return records


def test_salesforce_maps_an_api_opportunity() -> None:
    ctx = context("salesforce")
    out = build(ctx, salesforce.mapper(ctx), SF_API)

    (deal,), (fields,) = out.deals.items, out.deals.fields
    assert (deal.name, deal.stage, deal.source_stage) == (
        "Acme renewal",
        Stage.NEGOTIATION,
        "Negotiation/Review",
    )
    assert (deal.value, deal.currency, deal.probability) == (Decimal("48000.0"), "EUR", 0.8)
    assert deal.expected_close == date(2025, 6, 30)
    assert deal.owner == "005Ho000001QwErIAK"
    assert deal.lead_source == "Web"
    assert deal.created_at == datetime(2025, 1, 10, 9, 12, 3, tzinfo=UTC)
    assert deal.updated_at == datetime(2025, 5, 2, 14, tzinfo=UTC)
    assert deal.custom_fields == {"ForecastCategoryName": "Commit"}  # system fields left out
    assert deal.external_ids == {}  # refs are written by the sink from the draft's own keys
    (account,) = out.accounts.items
    assert account.name == "Acme Corp" and deal.account_id == account.id
    assert fields is not None
    assert {"name", "stage", "value", "currency", "probability", "owner"} <= fields
    assert not fields & {"qualification", "product_line", "lost_reason", "detection_confidence"}
    assert out.accounts.fields == [frozenset({"name"})]


def test_hubspot_maps_an_api_deal() -> None:
    ctx = context("hubspot")
    out = build(ctx, hubspot.mapper(ctx), HS_API)

    (deal,), (fields,) = out.deals.items, out.deals.fields
    assert (deal.name, deal.stage, deal.value, deal.probability) == (
        "Acme renewal",
        Stage.NEGOTIATION,
        Decimal(48000),
        0.9,
    )
    assert deal.expected_close == date(2025, 6, 30)
    assert deal.owner == "123"
    assert deal.lost_reason is None
    assert deal.custom_fields == {"pipeline": "default"}
    (account,) = out.accounts.items
    assert account.name == "987"  # the API has the company's id, not its name
    assert fields is not None and "lost_reason" in fields  # the property is there, null
    assert out.accounts.fields == [frozenset()]  # a name the record does not have: not carried


def test_a_closed_stage_the_defaults_do_not_know_maps_from_the_api_flags() -> None:
    ctx = context("salesforce")
    record = {**SF_API, "StageName": "Signed (custom)", "IsClosed": True, "IsWon": True}
    (deal,) = build(ctx, salesforce.mapper(ctx), record).deals.items
    assert deal.stage is Stage.CLOSED_WON
    assert deal.closed_at == datetime(2025, 6, 30, tzinfo=UTC)


def test_a_bad_api_value_names_the_api_field() -> None:
    ctx = context("salesforce")
    with pytest.raises(Problem) as err:
        salesforce.mapper(ctx).draft(RawRecord("deals", {**SF_API, "Amount": -1.0}, "r"))
    assert (err.value.field, err.value.problem) == ("Amount", "must not be negative: -1.0")


def test_an_api_record_without_a_required_field_is_a_problem() -> None:
    ctx = context("hubspot")
    record = {"id": "1", "properties": {"dealname": "x", "createdate": "2025-01-01"}}
    with pytest.raises(Problem) as err:
        hubspot.mapper(ctx).draft(RawRecord("deals", record, "r"))
    assert err.value.field == "dealstage"


# --- CSV reports: headers -> API fields ------------------------------------------------------


def report_source(path: Path, headers: Any, required: list[str]) -> CsvReportSource:
    return CsvReportSource(
        path, name="salesforce", stream="deals", headers=headers, required=required, what="x"
    )


async def test_a_salesforce_report_reads_as_api_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS[:1]))
    source = report_source(path, salesforce.CSV_HEADERS, ["Id"])

    (raw,) = [r async for r in source.records({})]

    assert raw.data["Id"] == "006A"
    assert raw.data["StageName"] == "Negotiation/Review"
    assert raw.data["Account.Name"] == "Acme Corp"
    assert raw.data["Owner.Name"] == "Ann Lee"
    assert raw.data["Type"] == "Renewal"  # not in the table: kept under its header
    assert source.labels["CloseDate"] == "Close Date"


async def test_a_hubspot_export_reads_as_properties(tmp_path: Path) -> None:
    path = write(tmp_path / "deals.csv", csv_text(HS_HEADER, HS_ROWS[:1]))
    source = report_source(path, hubspot.CSV_HEADERS, ["hs_object_id"])
    (raw,) = [r async for r in source.records({})]
    assert {k: raw.data[k] for k in ("hs_object_id", "dealstage", "associatedcompanyids")} == {
        "hs_object_id": "101",
        "dealstage": "Contract Sent",
        "associatedcompanyids": "9001",
    }


def test_the_csv_tables_name_only_api_fields_the_mappers_know() -> None:
    for vendor, headers in (
        (salesforce.OPPORTUNITY, salesforce.CSV_HEADERS),
        (hubspot.DEAL, hubspot.CSV_HEADERS),
    ):
        assert set(headers.values()) <= vendor.known, vendor.name


async def test_a_csv_carries_its_columns_and_an_empty_cell_clears(tmp_path: Path) -> None:
    header = "Opportunity ID,Opportunity Name,Stage,Created Date,Amount,Lead Source"
    rows = ["006A,Acme,Prospecting,2025-01-10,,Web"]
    path = write(tmp_path / "opps.csv", csv_text(header, rows))
    source = report_source(path, salesforce.CSV_HEADERS, ["Id"])
    ctx = context("salesforce")
    (raw,) = [r async for r in source.records({})]

    out = build(ctx, salesforce.mapper(ctx), raw.data)

    (deal,), (fields,) = out.deals.items, out.deals.fields
    assert fields is not None
    assert "value" in fields and deal.value is None  # an empty cell: carried, clears
    assert "lead_source" in fields and deal.lead_source == "Web"
    # columns the file does not have: not carried, a stored value stays
    for absent in ("probability", "expected_close", "owner", "account_id", "custom_fields"):
        assert absent not in fields, absent
    assert "qualification" not in fields


def test_a_pie_json_record_carries_its_keys_and_null_clears() -> None:
    record = {"id": "D1", "name": "x", "stage": "lead", "created_at": "…", "owner": None}
    fields = carried("deals", record)
    assert {"name", "stage", "source_stage", "owner", "created_at", "source"} <= fields
    assert not fields & {"qualification", "value", "custom_fields", "account_id"}
    assert "qualification" in carried("deals", {**record, "qualification": {}})


# --- the registry -----------------------------------------------------------------------------


def options() -> Options:
    return Options(tenant_id=TENANT, now=NOW)


@pytest.mark.parametrize(
    ("name", "text", "wanted", "expected"),
    [
        ("data.json", "{}", None, "pie-json"),
        ("log.xes", "<log/>", None, "xes"),
        ("opps.csv", SF_HEADER, None, "salesforce-csv"),
        ("deals.csv", HS_HEADER, None, "hubspot-csv"),
        ("deals.txt", HS_HEADER, "csv", "hubspot-csv"),
        ("anything.csv", "a,b", "salesforce", "salesforce-csv"),
        ("anything.csv", "a,b", "JSON", "pie-json"),
    ],
)
def test_formats_are_recognised_or_named(
    tmp_path: Path, name: str, text: str, wanted: str | None, expected: str
) -> None:
    path = write(tmp_path / name, text + "\n")
    assert formats.detect(path, wanted, options()).name == expected


def test_an_unknown_format_or_header_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="unknown format 'xml'; use one of pie-json"):
        formats.detect(path, "xml", options())
    with pytest.raises(InvalidInput, match="cannot tell the format") as err:
        formats.detect(path, None, options())
    assert err.value.record == "line 1"


def test_a_registered_format_is_detected(tmp_path: Path) -> None:
    def open_(path: Path, options: Options) -> Opened:
        raise NotImplementedError

    fmt = Format("tsv-test", lambda p: p.name.endswith(".tsv"), open_, aliases=("tsv",))
    formats.register(fmt)
    try:
        path = write(tmp_path / "a.tsv", "x\ty\n")
        assert formats.detect(path, None, options()) is fmt
        assert formats.detect(path, "tsv", options()) is fmt
    finally:
        del formats.FORMATS["tsv-test"]
