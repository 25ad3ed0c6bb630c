"""`pie import` on files that are wrong as a whole, and on files full of bad rows: one line and
exit 1 for the first, a short report for the second (issue 7, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pie.entrypoints.cli.main import app
from tests.unit.importing.files import SF_HEADER, SF_ROWS, csv_text, write
from tests.unit.importing.test_failing_well import many_bad_rows

runner = CliRunner()


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pie.db'}"
    made = runner.invoke(app, ["--db", url, "tenant", "create", "acme"])
    assert made.exit_code == 0, made.output
    return ["--db", url, "--tenant", "acme", "import"]


def one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output and "╭" not in result.output
    return errors[0]


def test_wrong_files_are_one_line_and_exit_1(base: list[str], tmp_path: Path) -> None:
    empty = write(tmp_path / "opps.csv", "")
    semi = write(tmp_path / "semi.csv", csv_text(SF_HEADER, SF_ROWS).replace(",", ";"))
    assert one_line_error([*base, str(empty)]).endswith("opps.csv: the file is empty")
    assert one_line_error([*base, str(tmp_path / "nope.csv")]).endswith("nope.csv: file not found")
    assert one_line_error([*base, str(tmp_path)]).endswith(": is a folder, not a file")
    assert "separated by semicolons (';'), not commas" in one_line_error([*base, str(semi)])


def test_many_bad_rows_print_a_short_report(base: list[str], tmp_path: Path) -> None:
    path = many_bad_rows(tmp_path, 3000)
    everything = tmp_path / "rejected.jsonl"
    result = runner.invoke(
        app, [*base, str(path), "--skip-bad-rows", "--json", "--rejected-file", str(everything)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["rejected"]) == 20 and report["rejected_total"] == 3000
    assert len(result.stdout) < 20_000
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 21
    assert skipped[-1].startswith(
        "skipped 3,000 record(s), 2,980 not listed here; by reason: "
        "Amount: must not be negative (2,000); "
        "Close Date: is not a date (expected YYYY-MM-DD) (1,000); "
    )
    assert skipped[-1].endswith(f"all are in {everything}")
    assert len(everything.read_text().splitlines()) == 3000

    fewer = runner.invoke(app, [*base, str(path), "--skip-bad-rows", "--show-rejected", "2"])
    assert fewer.exit_code == 0, fewer.output
    lines = [line for line in fewer.stderr.splitlines() if line.startswith("skipped ")]
    assert len(lines) == 3 and lines[-1].endswith("--rejected-file PATH writes them all")
