"""The Pipedrive mapper over API-shaped records: stages from the metadata (stock names by name,
custom ones by probability or place), won and lost from the status, the deal flow as stage
transitions, custom fields by name, deletes, and the field a bad record is refused for."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from pie.domain.model import ActivityType, EntityKind, derive_id
from pie.domain.stage_mapping import StageMapper
from pie.domain.stages import Stage
from pie.importing.draft import Ids, Problem, Records, SeenIds
from pie.importing.mapping import MapContext
from pie.importing.mapping import pipedrive as pd
from pie.importing.source import RawRecord

TENANT = uuid4()
BUDGET = "d4de1c1518b4531717c676029a45911c340390a6"
TIER = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

METADATA: dict[str, Any] = {
    "pipelines": [
        {"id": 1, "name": "Sales", "is_deal_probability_enabled": True},
        {"id": 2, "name": "Partners", "is_deal_probability_enabled": False},
    ],
    "stages": [
        {"id": i, "pipeline_id": p, "order_nr": o, "name": name, "deal_probability": chance}
        for i, p, o, name, chance in (
            (1, 1, 1, "Lead In", 10),
            (2, 1, 2, "Contact Made", 40),
            (3, 1, 3, "Security Review", 55),
            (4, 2, 1, "Intro", 90),
            (5, 2, 2, "Joint Plan", 90),
            (6, 2, 3, "Signature", 90),
        )
    ],
    "users": [{"id": 18, "name": "Ann Lee"}],
    "fields": {
        "deal": [
            {"key": BUDGET, "name": "Budget", "field_type": "monetary"},
            {"key": TIER, "name": "Tier", "field_type": "enum",
             "options": [{"id": 7, "label": "Gold"}, {"id": 8, "label": "Silver"}]},
        ]
    },
}  # fmt: skip


def deal(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": 1,
        "title": "Acme renewal",
        "owner_id": 18,
        "value": 48000,
        "currency": "EUR",
        "person_id": None,
        "org_id": None,
        "pipeline_id": 1,
        "stage_id": 3,
        "status": "open",
        "probability": None,
        "lost_reason": None,
        "add_time": "2025-01-10T09:12:03Z",
        "update_time": "2025-05-02T14:00:00Z",
        "won_time": None,
        "lost_time": None,
        "close_time": None,
        "expected_close_date": "2025-06-30",
        "is_deleted": False,
        "custom_fields": {BUDGET: {"value": 2300, "currency": "EUR"}, TIER: 7},
        "_metadata": METADATA,
    }
    record.update(changes)
    return record


def change(n: int, key: str, old: Any, new: Any, at: str) -> dict[str, Any]:
    return {
        "object": "dealChange",
        "timestamp": at,
        "data": {"id": n, "item_id": 1, "field_key": key, "old_value": str(old),
                 "new_value": str(new), "log_time": at},
    }  # fmt: skip


def context() -> MapContext:
    return MapContext(StageMapper("pipedrive"), SeenIds(), datetime(2026, 1, 1, tzinfo=UTC))


def build(record: dict[str, Any], stream: str = "deals", ctx: MapContext | None = None) -> Records:
    mapper = pd.mapper(ctx or context())
    draft = mapper.draft(RawRecord(stream, record, f"{stream} page 1, record 1"))
    assert draft is not None
    ids = Ids(TENANT, "pipedrive")
    for kind, ext, _ in draft.refs:  # what the store would resolve
        ids.resolved.setdefault(kind, {})[ext] = derive_id(TENANT, kind, "pipedrive", ext)
    for kind, ext in draft.own:
        ids.resolved.setdefault(kind, {})[ext] = derive_id(TENANT, kind, "pipedrive", ext)
    return draft.build(ids)


def test_a_deal_in_a_custom_stage_maps_by_its_probability_without_a_mapping_file() -> None:
    out = build(deal())
    (d,) = out.deals.items
    assert d.stage is Stage.PROPOSAL  # "Security Review", 55 %: nearest is proposal
    assert d.source_stage == "Security Review"
    assert (d.value, d.currency, d.owner) == (Decimal(48000), "EUR", "Ann Lee")
    (other,) = build(deal(owner_id=19)).deals.items
    assert other.owner == "19"  # not among the users: its id
    assert d.custom_fields == {
        "Budget": {"value": 2300, "currency": "EUR"},
        "Tier": "Gold",
        "pipeline": "Sales",
    }
    assert "custom_fields" in out.deals.fields[0]  # type: ignore[operator]


def test_stock_stage_names_map_by_name() -> None:
    (d,) = build(deal(stage_id=2)).deals.items
    assert d.stage is Stage.DISCOVERY  # "Contact Made", whatever its probability


def test_without_probabilities_a_custom_stage_maps_by_its_place() -> None:
    first = build(deal(pipeline_id=2, stage_id=4)).deals.items[0]
    last = build(deal(pipeline_id=2, stage_id=6)).deals.items[0]
    assert (first.stage, last.stage) == (Stage.LEAD, Stage.NEGOTIATION)
    assert first.probability is None


def test_won_and_lost_are_statuses() -> None:
    won = build(deal(status="won", won_time="2025-05-01T10:00:00Z")).deals.items[0]
    assert won.stage is Stage.CLOSED_WON and won.source_stage == "won"
    assert won.closed_at == datetime(2025, 5, 1, 10, tzinfo=UTC)
    lost = build(deal(status="lost", lost_reason="Budget")).deals.items[0]
    assert (lost.stage, lost.lost_reason) == (Stage.CLOSED_LOST, "Budget")


def test_the_deal_flow_becomes_the_stage_history() -> None:
    flow = [  # newest first, as the API lists it
        change(4, "status", "open", "won", "2025-04-20 08:00:00"),
        change(3, "status", "lost", "open", "2025-03-01 08:00:00"),
        change(2, "status", "open", "lost", "2025-02-01 08:00:00"),
        change(1, "stage_id", 1, 3, "2025-01-20 08:00:00"),
        {"object": "activity", "data": {}},
        change(9, "value", 100, 200, "2025-01-21 08:00:00"),
    ]
    out = build(deal(status="won", _flow=flow))
    steps = [(t.from_stage, t.to_stage, t.at.day, t.at.month) for t in out.transitions.items]
    assert steps == [
        (None, Stage.LEAD, 10, 1),  # entered "Lead In" when it was added
        (Stage.LEAD, Stage.PROPOSAL, 20, 1),
        (Stage.PROPOSAL, Stage.CLOSED_LOST, 1, 2),
        (Stage.CLOSED_LOST, Stage.PROPOSAL, 1, 3),  # re-opened
        (Stage.PROPOSAL, Stage.CLOSED_WON, 20, 4),
    ]
    days = [t.days_in_from_stage for t in out.transitions.items]
    assert days[0] is None and days[2] == pytest.approx(12.0)
    # the same record maps to the same transition ids: a re-sync does not duplicate them
    again = build(deal(status="won", _flow=copy.deepcopy(flow)))
    assert [t.id for t in again.transitions.items] == [t.id for t in out.transitions.items]


def test_a_deal_without_changes_has_its_entry_only() -> None:
    (t,) = build(deal(_flow=[])).transitions.items
    assert (t.from_stage, t.to_stage) == (None, Stage.PROPOSAL)


def test_the_deal_person_is_its_primary_stakeholder_and_the_org_its_account() -> None:
    out = build(deal(person_id=5, org_id=9))
    (d,), (s,) = out.deals.items, out.stakeholders.items
    assert d.account_id == derive_id(TENANT, EntityKind.ACCOUNT, "pipedrive", "9")
    assert s.contact_id == derive_id(TENANT, EntityKind.CONTACT, "pipedrive", "5")
    assert s.is_primary and s.deal_id == d.id
    assert "roles" not in out.stakeholders.fields[0]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"value": "12,5x"}, "value"),
        ({"add_time": "yesterday"}, "add_time"),
        ({"title": " "}, "title"),
        ({"stage_id": 99}, "stage_id"),
        ({"status": "frozen"}, "status"),
        ({"_flow": [change(1, "stage_id", 1, 2, "2025-13-01 00:00:00")]}, "_flow[0].log_time"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(Problem) as caught:
        build(deal(**changes))
    assert caught.value.field == field


def test_a_deleted_record_deletes_what_is_stored() -> None:
    ctx = context()
    mapper = pd.mapper(ctx)
    for stream, record in (
        ("deals", deal(status="deleted", is_deleted=True)),
        ("persons", {"id": 4, "is_deleted": True}),
    ):
        draft = mapper.draft(RawRecord(stream, record, "x"))
        assert draft is not None
        kind = pd.KINDS[stream]
        ids = Ids(TENANT, "pipedrive")
        stored = derive_id(TENANT, kind, "pipedrive", str(record["id"]))
        ids.resolved[kind] = {str(record["id"]): stored}
        assert draft.build(ids).deletes == [(kind, stored)]
        assert draft.build(Ids(TENANT, "pipedrive")).deletes == []  # never stored: nothing


def test_organizations_persons_and_activities() -> None:
    org = {
        "id": 9, "name": "Acme", "owner_id": 3, "add_time": "2024-01-01T00:00:00Z",
        "update_time": "2024-02-01T00:00:00Z", "address": {"value": "Berlin", "country": "DE"},
        "custom_fields": {"abc": "x", "nil": None}, "is_deleted": False,
        "_metadata": {"fields": {"organization": [{"key": "abc", "name": "Segment"}]}},
    }  # fmt: skip
    (a,) = build(org, "organizations").accounts.items
    assert (a.name, a.country, a.owner, a.custom_fields) == ("Acme", "DE", "3", {"Segment": "x"})
    person = {
        "id": 5, "name": "Ann Lee", "org_id": 9, "add_time": "2024-01-01T00:00:00Z",
        "emails": [{"value": "a@x.io", "primary": False},
                   {"value": "ann@acme.io", "primary": True}],
        "phones": [], "is_deleted": False,
    }  # fmt: skip
    (c,) = build(person, "persons").contacts.items
    assert (c.name, c.email, c.phone) == ("Ann Lee", "ann@acme.io", None)
    assert c.account_id == derive_id(TENANT, EntityKind.ACCOUNT, "pipedrive", "9")
    activity = {
        "id": 77, "subject": "Demo", "type": "meeting", "deal_id": 1, "person_id": 5,
        "org_id": 9, "due_date": "2025-03-04", "due_time": "15:30", "note": "went well",
        "add_time": "2025-03-01T00:00:00Z", "update_time": "2025-03-04T16:00:00Z",
        "is_deleted": False,
    }  # fmt: skip
    (x,) = build(activity, "activities").activities.items
    assert (x.type, x.subject, x.summary) == (ActivityType.MEETING, "Demo", "went well")
    assert x.occurred_at == datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    assert x.deal_id == derive_id(TENANT, EntityKind.DEAL, "pipedrive", "1")
    assert len(x.participants) == 1 and isinstance(x.participants[0], UUID)


def test_an_id_twice_in_one_run_is_refused() -> None:
    ctx = context()
    build(deal(), ctx=ctx)
    with pytest.raises(Problem, match="more than once"):
        build(deal(), ctx=ctx)


def test_each_transition_records_the_value_and_close_date_of_its_time() -> None:
    flow = [
        change(3, "stage_id", 1, 2, "2025-03-01 08:00:00"),
        change(2, "expected_close_date", "2025-06-30", "2025-07-31", "2025-02-15 08:00:00"),
        change(1, "value", 30000, 48000, "2025-02-01 08:00:00"),
        change(0, "probability", "", 40, "2025-02-01 08:00:00"),
    ]
    steps = build(deal(stage_id=2, _flow=flow)).transitions.items
    facts = [(t.value, t.expected_close, t.probability) for t in steps]
    assert facts == [
        (Decimal(30000), date(2025, 6, 30), None),  # as the deal was when it was added
        (Decimal(48000), date(2025, 7, 31), 0.4),
    ]
    bad = change(1, "value", 1, "lots", "2025-02-01 08:00:00")
    with pytest.raises(Problem) as caught:
        build(deal(_flow=[change(2, "stage_id", 1, 3, "2025-02-02 08:00:00"), bad]))
    assert caught.value.field == "_flow[1].value"
