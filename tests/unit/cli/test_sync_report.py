"""`pie sources sync`'s report at 80 columns: counts per entity kind, deletes included."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from pie.entrypoints.cli import sources
from pie.services.schemas.connections import (
    FailedRecord,
    KindCount,
    StreamCount,
    SyncResult,
)


def test_the_report_lists_deletes_per_entity_and_fits_80_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(
        sources, "console", Console(file=out, width=80, color_system=None, legacy_windows=False)
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    result = SyncResult(
        connection="salesforce-production-eu",
        vendor="salesforce",
        full=False,
        status="succeeded",
        started_at=at,
        finished_at=at,
        streams={"deleted:OpportunityContactRole": StreamCount(read=1_234_567)},
        counts={
            "deal": KindCount(created=1_234_567, updated=12_345, unchanged=987_654, deleted=3),
            "stage_transition": KindCount(created=2_345_678, skipped=1, deleted=4_567),
            "account": KindCount(deleted=2),
        },
        records_deleted=4_572,
        failed=[FailedRecord(record_id="006X", record="deals page 1", field="Amount", reason="-")],
        failed_total=1,
    )

    sources.print_result(result)

    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "unchanged" in line)
    assert header.split() == ["entity", "created", "updated", "unchanged", "skipped", "deleted"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[:1] != []}
    assert rows["deal"] == ["1,234,567", "12,345", "987,654", "0", "3"]
    assert rows["stage_transition"][-1] == "4,567"
    assert rows["account"] == ["0", "0", "0", "0", "2"]
