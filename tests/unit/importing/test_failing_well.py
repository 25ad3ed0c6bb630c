"""Imports that fail well (issue 7, item 6): a file that is empty, a folder, missing or
separated by semicolons gets one error that says so; a file full of bad rows gives a short
report (counts per reason, the first few rows) and, when asked, a file with every bad row."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from uuid import UUID

import pytest

from pie.domain.errors import InvalidInput
from pie.importing import import_file
from tests.fakes.uow import InMemoryStore, InMemoryUnitOfWork
from tests.unit.importing.files import SF_HEADER, SF_ROWS, csv_text, write


@pytest.mark.parametrize("name", ["opps.csv", "data.json", "log.xes"])
@pytest.mark.parametrize("content", [b"", b"\n \n", b"\xef\xbb\xbf\r\n"])
async def test_an_empty_file_is_said_to_be_empty(
    uow: InMemoryUnitOfWork, tmp_path: Path, name: str, content: bytes
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(InvalidInput) as err:
        await import_file(uow, path)
    assert str(err.value) == f"{path}: the file is empty"


async def test_a_folder_and_a_missing_file_are_named(
    uow: InMemoryUnitOfWork, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="is a folder, not a file"):
        await import_file(uow, tmp_path)
    with pytest.raises(InvalidInput, match="file not found"):
        await import_file(uow, tmp_path / "nope.csv")
    deals = write(tmp_path / "opps.csv", csv_text(SF_HEADER, SF_ROWS))
    with pytest.raises(InvalidInput, match=f"{tmp_path}: is a folder"):
        await import_file(uow, deals, history=tmp_path)


@pytest.mark.parametrize("fmt", [None, "salesforce-csv"])
@pytest.mark.parametrize(("delimiter", "called"), [(";", "semicolons"), ("\t", "tabs")])
async def test_a_csv_with_another_delimiter_says_which(
    uow: InMemoryUnitOfWork, tmp_path: Path, fmt: str | None, delimiter: str, called: str
) -> None:
    text = csv_text(SF_HEADER, SF_ROWS[1:]).replace(",", delimiter)
    path = write(tmp_path / "opps.csv", text)
    with pytest.raises(InvalidInput) as err:
        await import_file(uow, path, format=fmt)
    assert err.value.record == "line 1"
    assert f"separated by {called} ({delimiter!r}), not commas" in err.value.problem
    assert "',' as the delimiter" in err.value.problem


def many_bad_rows(folder: Path, n: int) -> Path:
    good = SF_ROWS[1]
    rows = [good]
    for i in range(n):
        row = good.replace("006B", f"X{i:06d}")
        # two reasons, each row with its own bad value
        rows.append(
            row.replace("12000", f"-{i + 1}") if i % 3 else row.replace("2025-09-30", f"day{i}")
        )
    return write(folder / "opps.csv", csv_text(SF_HEADER, rows))


async def test_a_million_bad_rows_give_a_short_report(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    path = many_bad_rows(tmp_path, 3000)
    report = await import_file(
        InMemoryUnitOfWork(tenant, store), path, skip_bad_rows=True, show_rejected=5
    )
    assert report.created == 2  # the good row's deal and account
    assert report.rejected_total == 3000 == report.skipped
    assert [r.record for r in report.rejected] == [f"line {n}" for n in (3, 4, 5, 6, 7)]
    assert report.reasons == {
        "Amount: must not be negative": 2000,
        "Close Date: is not a date (expected YYYY-MM-DD)": 1000,
    }
    out = report.to_dict()
    assert len(out["rejected"]) == 5
    assert out["rejected_total"] == 3000
    assert out["rejected_reasons"][0] == {"reason": "Amount: must not be negative", "count": 2000}
    assert len(json.dumps(out)) < 5000


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
async def test_every_bad_row_goes_to_the_rejected_file(
    store: InMemoryStore, tenant: UUID, tmp_path: Path, suffix: str
) -> None:
    path = many_bad_rows(tmp_path, 300)
    out = tmp_path / f"rejected{suffix}"
    report = await import_file(
        InMemoryUnitOfWork(tenant, store),
        path,
        skip_bad_rows=True,
        show_rejected=0,
        rejected_file=out,
    )
    assert report.rejected == () and report.rejected_total == 300
    assert report.rejected_file == str(out)
    if suffix == ".csv":
        with out.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 300
    assert rows[0] == {
        "source": str(path),
        "record": "line 3",
        "record_id": "X000000",
        "field": "Close Date",
        "problem": "is not a date (expected YYYY-MM-DD): 'day0'",
    }


async def test_a_rejected_file_in_a_missing_folder_is_refused_before_importing(
    store: InMemoryStore, tenant: UUID, tmp_path: Path
) -> None:
    path = many_bad_rows(tmp_path, 3)
    with pytest.raises(InvalidInput, match=r"folder .* does not exist"):
        await import_file(
            InMemoryUnitOfWork(tenant, store),
            path,
            skip_bad_rows=True,
            rejected_file=tmp_path / "no" / "rejected.csv",
        )
    assert store.commits == 0
