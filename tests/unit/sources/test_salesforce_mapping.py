"""The Salesforce mapper's stage metadata: custom stages map from their probability, closed
and won flags, without a stage map."""

from __future__ import annotations

from datetime import UTC, datetime

from pie.domain.stage_mapping import StageMapper
from pie.domain.stages import Stage
from pie.importing.draft import SeenIds
from pie.importing.mapping import MapContext
from pie.importing.mapping import salesforce as m
from pie.importing.source import RawRecord


def stage(
    name: str, order: int, probability: int, closed: bool = False, won: bool = False
) -> dict[str, object]:
    return {"ApiName": name, "MasterLabel": name, "SortOrder": order, "IsActive": True,
            "IsClosed": closed, "IsWon": won, "DefaultProbability": probability}  # fmt: skip


def test_custom_stages_map_from_their_metadata() -> None:
    stages = StageMapper("salesforce", vendor="salesforce")
    mapper = m.api_mapper(MapContext(stages, SeenIds(), datetime.now(UTC)))
    records = [
        stage("Prospecting", 1, 10),
        stage("Technical Validation", 2, 35),
        stage("Security Review", 3, 60),
        stage("Paperwork", 4, 80),
        stage("Signed", 5, 100, closed=True, won=True),
        stage("Went Elsewhere", 6, 0, closed=True),
    ]
    draft = mapper.draft(RawRecord(m.STAGES, {"records": records}, "stages"))
    assert draft is not None and draft.record_id == ""
    assert [stages.map(str(r["ApiName"])) for r in records] == [
        Stage.LEAD,  # a stock name keeps its stock stage
        Stage.DEMO,
        Stage.PROPOSAL,
        Stage.NEGOTIATION,
        Stage.CLOSED_WON,
        Stage.CLOSED_LOST,
    ]
    assert stages.unmapped == {}
    meta = m.stage_meta(records)
    assert (meta["Paperwork"].order, meta["Paperwork"].of) == (3, 4)
