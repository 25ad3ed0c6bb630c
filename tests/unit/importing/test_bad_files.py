"""The bad-file corpus: each file fails with an error naming the file, the record and the
field, and nothing from it is stored."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.importing import import_file
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork
from tests.unit.importing.files import (
    SF_HEADER,
    SF_HISTORY,
    SF_ROWS,
    csv_text,
    pie_doc,
    write,
    write_json,
)


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]  # writes the file into a folder, returns its path
    record: str  # expected InvalidInput.record (prefix)
    column: str  # expected InvalidInput.field
    problem: str  # a part of the problem text
    kwargs: dict[str, Any] = field(default_factory=dict)


def sf(*rows: str, header: str = SF_HEADER) -> Callable[[Path], Path]:
    return lambda d: write(d / "opps.csv", csv_text(header, list(rows)))


def doc(mutate: Callable[[dict[str, Any]], object]) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        data = pie_doc()
        mutate(data)
        return write_json(d / "data.json", data)

    return make


def latin1(d: Path) -> Path:
    text = csv_text(SF_HEADER, [SF_ROWS[0], SF_ROWS[1].replace("Acme expansion", "Café expansion")])
    return write(d / "opps.csv", text.encode("latin-1"))


def huge_cell(d: Path) -> Path:
    row = SF_ROWS[0].replace("Acme renewal", "x" * 10_000_000)
    return write(d / "opps.csv", csv_text(SF_HEADER, [row]))


def truncated(d: Path) -> Path:
    text = json.dumps(pie_doc())
    return write(d / "data.json", text[: text.index('"D2"') + 10])


def not_utf8_json(d: Path) -> Path:
    text = json.dumps(pie_doc(), ensure_ascii=False).replace("Globex pilot", "Globex pilöt")
    return write(d / "data.json", text.encode("latin-1"))


def with_history(history: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        write(d / "history.csv", history)
        return write(d / "opps.csv", csv_text(SF_HEADER, SF_ROWS))

    return make


def set_in(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


CASES: dict[str, Case] = {
    "not utf-8": Case(latin1, "line 3", "", "is not UTF-8 text: byte 0xe9"),
    "missing required column": Case(
        sf(
            *(r.replace(",Negotiation/Review", "") for r in SF_ROWS[:1]),
            header=SF_HEADER.replace(",Stage", ""),
        ),
        "line 1",
        "Stage",
        "missing required column(s) 'Stage'",
    ),
    "unparseable date": Case(
        sf(SF_ROWS[0], SF_ROWS[1].replace("2025-09-30", "31/02/2025")),
        "line 3 (id 006B)",
        "Close Date",
        "is not a date: '31/02/2025'",
    ),
    "negative amount": Case(
        sf(SF_ROWS[0].replace('"48,000.00"', "-48000")),
        "line 2 (id 006A)",
        "Amount",
        "must not be negative",
    ),
    "duplicated id": Case(
        sf(SF_ROWS[0], SF_ROWS[1], SF_ROWS[0]),
        "line 4 (id 006A)",
        "Opportunity ID",
        "'006A' appears more than once",
    ),
    "10 MB cell": Case(
        huge_cell,
        "line 2 (id 006A)",
        "Opportunity Name",
        "the limit is 1,048,576",
    ),
    "too many cells": Case(
        sf(SF_ROWS[0] + ",extra"),
        "line 2",
        "",
        "has 17 cells but the header has 16",
    ),
    "unknown layout": Case(
        lambda d: write(d / "x.csv", "a,b\n1,2\n"),
        "line 1",
        "",
        "cannot tell the format",
    ),
    "truncated json": Case(truncated, "deals[1]", "", "is not valid JSON"),
    "json not utf-8": Case(not_utf8_json, "deals[1]", "", "is not valid JSON"),
    "json schema: missing name": Case(
        doc(lambda d: d["deals"][1].pop("name")),
        "deals[1] (id D2)",
        "",
        "'name' is a required property",
    ),
    "json schema: bad history entry": Case(
        doc(set_in(["deals", 0, "stage_history", 1, "at"], "yesterday")),
        "deals[0] (id D1)",
        "stage_history[1].at",
        "does not match the pie/v1 schema",
    ),
    "json schema: unknown key": Case(
        doc(set_in(["accounts", 1, "revenue"], 5)),
        "accounts[1] (id A2)",
        "",
        "'revenue' was unexpected",
    ),
    "json schema: negative money": Case(
        doc(set_in(["deals", 0, "value"], -5)),
        "deals[0] (id D1)",
        "value",
        "-5",
    ),
    "json: negative money as a string": Case(
        doc(set_in(["accounts", 0, "annual_revenue"], "-5.00")),
        "accounts[0] (id A1)",
        "annual_revenue",
        "does not match",
    ),
    "json: timestamp without zone": Case(
        doc(set_in(["deals", 1, "created_at"], "2025-03-01T00:00:00")),
        "deals[1] (id D2)",
        "created_at",
        "does not match",
    ),
    "json: impossible date": Case(
        doc(set_in(["deals", 0, "expected_close"], "2025-02-30")),
        "deals[0] (id D1)",
        "expected_close",
        "is not a date",
    ),
    "json: unknown account": Case(
        doc(set_in(["deals", 1, "account"], "A9")),
        "deals[1] (id D2)",
        "account",
        "refers to account 'A9', which is neither earlier",
    ),
    "json: reference to a later record": Case(
        doc(set_in(["contacts", 0, "account"], "C2")),
        "contacts[0] (id C1)",
        "account",
        "refers to account 'C2'",
    ),
    "json: history does not chain": Case(
        doc(set_in(["deals", 0, "stage_history", 2, "from"], "demo")),
        "deals[0] (id D1)",
        "stage_history[2].from",
        "previous entry went to 'discovery'",
    ),
    "json: history ends elsewhere": Case(
        doc(set_in(["deals", 0, "stage"], "negotiation")),
        "deals[0] (id D1)",
        "stage_history[2].to",
        "the deal's stage is 'negotiation'",
    ),
    "json: duplicate id": Case(
        doc(lambda d: d["contacts"].append(dict(d["contacts"][0]))),
        "contacts[2] (id C1)",
        "id",
        "appears more than once in contacts",
    ),
    "json: wrong format": Case(
        doc(set_in(["format"], "pie/v2")),
        "the document",
        "format",
        "pie/v1",
    ),
    "json: sections out of order": Case(
        lambda d: write(
            d / "data.json", json.dumps({"format": "pie/v1", "deals": [], "accounts": []})
        ),
        "the document",
        "accounts",
        "must come before deals",
    ),
    "history: unknown deal": Case(
        with_history(SF_HISTORY + "006Z,Prospecting,1,10,2025-07-31,2025-01-10T09:12:03Z\n"),
        "line 8 (id 006Z)",
        "Opportunity ID",
        "refers to deal '006Z'",
        {"history": "history.csv"},
    ),
    "history: rows of a deal apart": Case(
        with_history(SF_HISTORY + "006A,Closed Won,1,100,2025-07-31,2025-05-10T09:12:03Z\n"),
        "line 8 (id 006A)",
        "Opportunity ID",
        "are not together",
        {"history": "history.csv"},
    ),
    "history: bad date": Case(
        with_history(SF_HISTORY.replace("2025-01-20T09:12:03Z", "soon")),
        "line 3 (id 006A)",
        "Created Date",
        "is not a time stamp",
        {"history": "history.csv"},
    ),
}


def read_text(path: str | None) -> str:
    assert path is not None
    return Path(path).read_text(encoding="utf-8")


def assert_nothing_stored(store: InMemoryStore, tenant: UUID) -> None:
    tables = store.tables_for(tenant)
    assert all(not rows for rows in tables.rows.values())
    assert not tables.refs
    assert store.commits == 0


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_bad_file_is_refused_with_its_place_and_nothing_is_stored(
    case: Case, store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    path = case.make(tmp_path)
    kwargs = {k: tmp_path / v for k, v in case.kwargs.items()}

    with pytest.raises(InvalidInput) as err:
        await import_file(InMemoryUnitOfWork(tenant, store), path, **kwargs)

    error = err.value
    expected_file = kwargs.get("history", path)
    assert error.source == str(expected_file)
    assert error.record.startswith(case.record), error.record
    assert error.field == case.column
    assert case.problem in error.problem
    assert "\n" not in str(error)
    assert str(error).startswith(f"{expected_file}, ")
    assert_nothing_stored(store, tenant)


async def test_unknown_stages_are_all_listed_and_a_suggested_mapping_is_written(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    rows = [
        SF_ROWS[0].replace("Negotiation/Review", "Legal Review"),
        SF_ROWS[1].replace("Prospecting", "Parked"),
        SF_ROWS[2],
        SF_ROWS[0].replace("006A", "006D").replace("Negotiation/Review", "legal  review"),
    ]
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, rows))
    history = write(tmp_path / "history.csv", SF_HISTORY.replace("Qualification", "Triage"))
    suggestions = tmp_path / "suggestions"

    with pytest.raises(UnmappedStages) as err:
        await import_file(
            InMemoryUnitOfWork(tenant, store), deals, history=history, suggestions_dir=suggestions
        )

    assert err.value.names == ("Legal Review", "Parked", "Triage")
    assert err.value.source == str(deals)
    assert err.value.field == "stage"
    assert err.value.suggestion_path == str(suggestions / "opps.stage-map.toml")
    assert "'Legal Review', 'Parked', 'Triage'" in str(err.value)
    suggested = tomllib.loads(read_text(err.value.suggestion_path))
    assert suggested["sources"]["salesforce"] == {
        "Legal Review": "negotiation",  # guessed from the row's 90 %
        "Parked": "qualification",  # 10 %
        "Triage": "",
    }
    assert_nothing_stored(store, tenant)


async def test_unknown_json_stages_are_listed_after_reading_the_whole_file(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    data = pie_doc()
    data["deals"][0]["stage_history"][1]["to"] = "Scoping"
    data["deals"][0]["stage_history"][2]["from"] = "Scoping"
    data["deals"][1]["stage"] = "Booked"
    path = write_json(tmp_path / "data.json", data)

    with pytest.raises(UnmappedStages) as err:
        await import_file(InMemoryUnitOfWork(tenant, store), path)

    assert err.value.names == ("Scoping", "Booked")
    assert err.value.suggestion_path == str(tmp_path / "data.stage-map.toml")
    assert "[sources.crm-x]" in read_text(err.value.suggestion_path)
    assert_nothing_stored(store, tenant)


async def test_a_missing_file_and_an_unknown_format_are_refused(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="file not found"):
        await import_file(InMemoryUnitOfWork(tenant, store), tmp_path / "nope.csv")
    path = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS))
    with pytest.raises(InvalidInput, match="unknown format 'xml'"):
        await import_file(InMemoryUnitOfWork(tenant, store), path, format="xml")
    assert_nothing_stored(store, tenant)
