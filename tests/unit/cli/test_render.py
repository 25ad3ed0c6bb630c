"""Deal and account listings read at 80 columns (the width of a pipe): no zero-width or cut
name, compact money, the least important columns dropped first."""

from __future__ import annotations

import io
import uuid
from datetime import date
from decimal import Decimal

import pytest
from rich.console import Console
from rich.table import Table

from pie.domain.model import Account, Deal
from pie.entrypoints.cli.render import accounts_table, compact_money, deals_table
from tests.contract import records as r

T = uuid.uuid4()
LONG_NAME = "Northwind Traders: platform expansion for the EMEA sales organisation 2026"


def deal(*args: object, **kw: object) -> Deal:
    """A deal as the store gives it back: with its source id."""
    kw.setdefault("external_ids", {"crm": "D-1"})
    return r.deal(*args, **kw)  # type: ignore[arg-type]


def account(*args: object, **kw: object) -> Account:
    kw.setdefault("external_ids", {"crm": "A-1"})
    return r.account(*args, **kw)  # type: ignore[arg-type]


def rendered(table: Table, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, legacy_windows=False).print(table)
    lines = out.getvalue().splitlines()
    assert all(line[-1] in "┓┃┩│┘" for line in lines), "the table was cropped"
    return lines


def header_cells(lines: list[str]) -> dict[str, int]:
    """Header name -> the column's width, read off the rendered header row."""
    header = next(line for line in lines if "┃" in line)
    cells = header.strip("┃").split("┃")
    return {cell.strip(): len(cell) - 2 for cell in cells}


def deals() -> list[Deal]:
    return [
        deal(
            T,
            None,
            name=LONG_NAME,
            value=Decimal("2100000"),
            currency="USD",
            owner="Alexandra Montgomery-Smith",
            external_ids={"salesforce": "006Ho00000AbCdEIAV"},
        ),
        deal(T, None, name="Acme", value=Decimal("48000"), external_ids={"sample": "D000001"}),
        deal(T, None, name="No source id", value=None, external_ids={}, expected_close=None),
    ]


@pytest.mark.parametrize("width", [80, 100])
def test_deals_table_fits_without_cutting_names(width: int) -> None:
    rows = deals()
    lines = rendered(deals_table(rows, width=width), width)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    columns = header_cells(lines)
    assert columns["name"] >= 20
    for d in rows:  # every word of every name, whole (wrapped, never cut)
        assert all(word in text.split() for word in d.name.split()), d.name
    for ref in ("salesforce:006Ho00000AbCdEIAV", "sample:D000001"):
        assert ref in text
    id_column = "".join(line.split("│")[1].strip() for line in lines if line.startswith("│"))
    assert str(rows[2].id) in id_column  # a PIE id may fold, but stays whole
    assert "$2.1M" in text
    assert "€48K" in text
    assert {"id", "name", "stage", "value"} <= set(columns)


def test_deals_table_drops_the_owner_before_the_close_date_and_keeps_all_when_wide() -> None:
    base = {"id", "name", "stage", "value"}
    short = header_cells(rendered(deals_table(deals()[1:2], width=80), 80))
    assert set(short) == base | {"expected close", "owner"}  # room for all: nothing dropped
    long = deals()[:1]
    assert set(header_cells(rendered(deals_table(long, width=100), 100))) == base | {
        "expected close"
    }
    assert set(header_cells(rendered(deals_table(long, width=80), 80))) == base
    wide = header_cells(rendered(deals_table(deals(), width=160), 160))
    assert set(wide) == {"id", "name", "stage", "value", "expected close", "owner"}


def test_accounts_table_fits_80_columns() -> None:
    accounts = [
        account(
            T,
            name=LONG_NAME,
            industry="industrial machinery",
            country="United Kingdom",
            external_ids={"crm": "A-1"},
        ),
        account(T, name="Zed", external_ids={}, employees=123456),
    ]
    lines = rendered(accounts_table(accounts, width=80), 80)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    assert header_cells(lines)["name"] >= 20
    assert all(word in text.split() for word in LONG_NAME.split())
    assert str(accounts[1].id) in text and "crm:A-1" in text


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("2100000"), "USD", "$2.1M"),
        (Decimal("12400000"), "USD", "$12M"),
        (Decimal("950000"), "EUR", "€950K"),
        (Decimal("999999"), "USD", "$1.0M"),
        (Decimal("9500"), "GBP", "£9.5K"),
        (Decimal("640"), "USD", "$640"),
        (Decimal("0"), "USD", "$0"),
        (Decimal("-1500"), "USD", "$-1.5K"),
        (Decimal("3200000000"), "CHF", "3.2B CHF"),
        (None, "USD", "—"),
    ],
)
def test_compact_money(value: Decimal | None, currency: str, shown: str) -> None:
    assert compact_money(value, currency) == shown


def test_dates_stay_whole() -> None:
    lines = rendered(deals_table([deal(T, None, expected_close=date(2026, 12, 31))], width=80), 80)
    assert "2026-12-31" in "\n".join(lines)


def test_the_change_feed_keeps_record_and_origin_whole_at_80_columns() -> None:
    from datetime import UTC, datetime

    from pie.domain.model import EntityKind
    from pie.entrypoints.cli.render import changes_table
    from pie.ports.repositories import Change

    fields = {f: [None, 1] for f in ("annual_revenue", "country", "created_at", "domain", "name")}
    changes = [
        Change(n, EntityKind.STAGE_TRANSITION, uuid.uuid4(), "update", 12, "salesforce-eu-prod",
               fields, datetime(2026, 1, 1, tzinfo=UTC))
        for n in (1, 123456)
    ]  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(changes_table(changes))
    text = out.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert text.count("salesforce-eu-prod") == 2 and "stage_transition" in text
    assert "annual_rev" in text  # the fields fold: they are what gives way
