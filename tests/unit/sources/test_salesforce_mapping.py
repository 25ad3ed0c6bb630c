"""The Salesforce mapper's stage metadata: custom stages map from their probability, closed
and won flags, without a stage map; the API's time stamps read in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from pie.domain.stage_mapping import StageMapper
from pie.domain.stages import Stage
from pie.importing.draft import Draft, Ids, Problem, Records, SeenIds
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


def api_mapper() -> m.ApiMapper:
    stages = StageMapper("salesforce", vendor="salesforce")
    return m.api_mapper(MapContext(stages, SeenIds(), datetime.now(UTC)))


def built(draft: object) -> Records:
    assert isinstance(draft, Draft)
    ids = Ids(UUID(int=1), "salesforce")
    for kind, ext, _ in draft.refs:
        ids.resolved.setdefault(kind, {})[ext] = UUID(int=2)
    return draft.build(ids)


def test_api_time_stamps_read_in_utc_whatever_their_offset() -> None:
    task = {
        "attributes": {"type": "Task"}, "Id": "00T1", "Subject": "Call", "Type": "Call",
        "CreatedDate": "2024-01-02T03:04:05.000+0000",
        "LastModifiedDate": "2024-01-02T05:04:05.000+0200",
    }  # fmt: skip
    event = {
        "attributes": {"type": "Event"}, "Id": "00U1", "Type": "Meeting",
        "StartDateTime": "2024-03-04T10:00:00.000-0500",
        "CreatedDate": "2024-03-01T00:00:00Z", "LastModifiedDate": "2024-03-01T00:00:00Z",
    }  # fmt: skip
    mapper = api_mapper()

    (call,) = built(mapper.draft(RawRecord(m.TASKS, task, "t"))).activities.items
    (meeting,) = built(mapper.draft(RawRecord(m.CALENDAR, event, "e"))).activities.items

    assert call.occurred_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert meeting.occurred_at == datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
    assert call.occurred_at.tzinfo is UTC and meeting.occurred_at.tzinfo is UTC


def test_a_bad_time_stamp_is_refused_naming_its_field() -> None:
    contact = {"attributes": {"type": "Contact"}, "Id": "0031", "LastName": "Lovelace",
               "CreatedDate": "2024-13-45T00:00:00.000+0000"}  # fmt: skip
    with pytest.raises(Problem) as refused:
        api_mapper().draft(RawRecord(m.CONTACTS, contact, "c"))
    assert refused.value.field == "CreatedDate"
