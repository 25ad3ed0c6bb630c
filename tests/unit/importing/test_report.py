"""The import report lists the writes the ownership policy refused, and the CLI says so."""

from __future__ import annotations

from uuid import uuid4

from pie.domain.model import EntityKind
from pie.domain.ownership import Kept
from pie.entrypoints.cli.importing import kept_line
from pie.importing.report import ImportReport, Tally
from pie.ports.repositories import UpsertCounts


def test_kept_writes_are_in_the_report_and_its_json() -> None:
    deal = uuid4()
    tally = Tally()
    tally.add(EntityKind.DEAL, UpsertCounts(updated=1))
    tally.add(
        EntityKind.DEAL,
        UpsertCounts(unchanged=1, kept=(Kept(EntityKind.DEAL, deal, "stage", "human", "sf"),)),
    )
    report = ImportReport(
        file="opps.csv",
        format="salesforce-csv",
        source="sf",
        counts=tally.counts,
        kept=tuple(tally.kept),
    )

    assert report.to_dict()["kept"] == [
        {
            "entity": "deal",
            "id": str(deal),
            "field": "stage",
            "kept_origin": "human",
            "refused_origin": "sf",
        }
    ]
    assert kept_line(report) == (
        "kept 1 stored value(s) of human that sf may not overwrite (deal.stage); "
        "the report's 'kept' lists them (--json)"
    )


def test_no_line_when_nothing_was_kept() -> None:
    report = ImportReport(file="f", format="pie-json", source="s", counts={})
    assert kept_line(report) == ""
    assert report.to_dict()["kept"] == []
