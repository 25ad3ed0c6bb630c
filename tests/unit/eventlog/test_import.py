from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.domain.model import EntityKind, derive_id
from pie.domain.stages import Stage
from pie.mining.eventlog_export import write_xes
from pie.mining.eventlog_import import EventLogStats, UnmappedActivities, read_event_log
from pie.mining.eventlog_mapping import EventLogMapping, load_mapping, suggested_mapping

from .histories import TENANT, hand_built, random_histories

MAPPING = """
source = "crmlog"

[activities]
"Create Lead" = "lead"
"Qualify" = "qualification"
"Send Quote" = "proposal"
"Update Quote" = "proposal"
"Send Email" = "ignore"
"Won" = "closed won"

[case_attributes]
amount = "value"
customer = "account"

[csv]
case_id = "case"
activity = "task"
timestamp = "when"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mapping(tmp_path: Path) -> EventLogMapping:
    return load_mapping(_write(tmp_path, "map.toml", MAPPING))


def test_xes_round_trip_keeps_every_transition(tmp_path: Path) -> None:
    original = hand_built() + random_histories(150, seed=4)
    path = tmp_path / "log.xes"
    write_xes(original, path)
    stats = EventLogStats()
    back = list(read_event_log(path, EventLogMapping.identity(), tenant_id=TENANT, stats=stats))

    assert len(back) == len(original)
    for before, after in zip(original, back, strict=True):
        assert after.deal.external_ids == {"eventlog": str(before.deal.id)}
        assert [(t.from_stage, t.to_stage, t.at) for t in after.transitions] == [
            (t.from_stage, t.to_stage, t.at) for t in before.transitions
        ]
        assert after.deal.stage is before.deal.stage
        assert after.deal.name == before.deal.name
        assert after.deal.value == before.deal.value
        assert after.deal.owner == before.deal.owner
        assert (after.account and after.account.name) == (before.account and before.account.name)
    assert stats.transitions == stats.events == sum(len(h.transitions) for h in original)
    assert stats.same_stage_skipped == stats.ignored == 0


def test_ids_are_derived_so_a_second_read_gives_the_same_ids(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    write_xes(hand_built(), path)
    first = list(read_event_log(path, EventLogMapping.identity(), tenant_id=TENANT))
    second = list(read_event_log(path, EventLogMapping.identity(), tenant_id=TENANT))
    assert [h.deal.id for h in first] == [h.deal.id for h in second]
    case_id = first[0].deal.external_ids["eventlog"]
    assert first[0].deal.id == derive_id(TENANT, EntityKind.DEAL, "eventlog", case_id)
    assert first[0].transitions[1].id == second[0].transitions[1].id


def test_reads_gzipped_xes(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    write_xes(hand_built(), path)
    packed = tmp_path / "log.xes.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    plain = list(read_event_log(path, EventLogMapping.identity(), tenant_id=TENANT))
    unpacked = list(read_event_log(packed, EventLogMapping.identity(), tenant_id=TENANT))
    assert [h.transitions for h in unpacked] == [h.transitions for h in plain]


def test_csv_with_a_mapping_file(tmp_path: Path, mapping: EventLogMapping) -> None:
    log = _write(
        tmp_path,
        "log.csv",
        "case,task,when,amount,customer,resource\n"
        "c1,Create Lead,2026-02-01T09:00:00Z,5000,Initech,bo\n"
        "c2,Create Lead,2026-02-02 10:00:00,,,\n"
        "c1,Send Email,2026-02-01T10:00:00Z,,,bo\n"
        "c1,Qualify,2026-02-03T09:00:00+01:00,,,cy\n"
        "c1,Send Quote,2026-02-04T09:00:00Z,,,cy\n"
        "c1,Update Quote,2026-02-05T09:00:00Z,,,cy\n"
        "c1,Won,2026-02-09T09:00:00Z,,,cy\n",
    )
    stats = EventLogStats()
    c1, c2 = read_event_log(log, mapping, tenant_id=TENANT, stats=stats)

    assert [t.to_stage for t in c1.transitions] == [
        Stage.LEAD,
        Stage.QUALIFICATION,
        Stage.PROPOSAL,
        Stage.CLOSED_WON,
    ]
    assert c1.transitions[1].at == datetime(2026, 2, 3, 8, 0, tzinfo=UTC)
    assert c1.transitions[1].days_in_from_stage == pytest.approx(47 / 24)
    assert c1.deal.stage is Stage.CLOSED_WON
    assert c1.deal.source_stage == "Won"
    assert c1.deal.closed_at == datetime(2026, 2, 9, 9, 0, tzinfo=UTC)
    assert c1.deal.value == Decimal(5000)
    assert c1.deal.owner == "cy"  # no owner attribute is mapped: the last performer
    assert c1.account is not None
    assert c1.account.name == "Initech"
    assert c1.deal.account_id == c1.account.id
    assert c1.deal.source == "crmlog"
    assert c2.transitions[0].at == datetime(2026, 2, 2, 10, 0, tzinfo=UTC)  # naive is UTC
    assert c2.deal.account_id is None
    assert (stats.cases, stats.events, stats.transitions) == (2, 7, 5)
    assert (stats.ignored, stats.same_stage_skipped) == (1, 1)


def test_lists_every_unmapped_activity_and_the_section_to_fill(
    tmp_path: Path, mapping: EventLogMapping
) -> None:
    log = _write(
        tmp_path,
        "log.csv",
        "case,task,when\n"
        "c1,Create Lead,2026-02-01T09:00:00Z\n"
        "c1,Call Back,2026-02-02T09:00:00Z\n"
        "c2,Archive,2026-02-02T09:00:00Z\n"
        "c2,Call Back,2026-02-03T09:00:00Z\n",
    )
    with pytest.raises(UnmappedActivities) as caught:
        read_event_log(log, mapping, tenant_id=TENANT)
    assert caught.value.names == ("Archive", "Call Back")
    assert isinstance(caught.value, UnmappedStages)
    message = str(caught.value)
    assert "'Archive', 'Call Back'" in message
    assert "[activities]" in message
    assert "map.toml" in message
    assert '"Call Back" = "?"' in suggested_mapping(caught.value.names)


def test_unmapped_xes_activities_are_found_before_anything_is_read(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    write_xes(hand_built(), path)
    partial = EventLogMapping(activities={"lead": Stage.LEAD})
    with pytest.raises(UnmappedActivities) as caught:
        read_event_log(path, partial, tenant_id=TENANT)
    assert caught.value.names == ("closed_lost", "closed_won", "qualification", "stalled")


def test_out_of_order_events_name_the_case_and_both_events(
    tmp_path: Path, mapping: EventLogMapping
) -> None:
    text = (
        "case,task,when\n"
        "c7,Create Lead,2026-02-05T09:00:00Z\n"
        "c7,Qualify,2026-02-03T09:00:00Z\n"
        "c7,Won,2026-02-09T09:00:00Z\n"
    )
    log = _write(tmp_path, "log.csv", text)
    with pytest.raises(InvalidInput, match="out of time order") as caught:
        list(read_event_log(log, mapping, tenant_id=TENANT))
    message = str(caught.value)
    assert "case 'c7'" in message
    assert "event 2 ('Qualify' at 2026-02-03T09:00:00+00:00)" in message
    assert "event 1 ('Create Lead' at 2026-02-05T09:00:00+00:00)" in message

    (history,) = read_event_log(log, mapping, tenant_id=TENANT, sort_events=True)
    assert [t.to_stage for t in history.transitions] == [
        Stage.QUALIFICATION,
        Stage.LEAD,
        Stage.CLOSED_WON,
    ]


def test_unreadable_timestamps_name_the_line_and_value(
    tmp_path: Path, mapping: EventLogMapping
) -> None:
    log = _write(tmp_path, "log.csv", "case,task,when\nc1,Create Lead,next tuesday\n")
    with pytest.raises(InvalidInput, match="'next tuesday'") as caught:
        read_event_log(log, mapping, tenant_id=TENANT)
    assert caught.value.record == "line 2 (case 'c1')"
    assert caught.value.field == "when"


def test_unreadable_xes_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    write_xes(hand_built()[:1], path)
    path.write_text(path.read_text().replace("2026-01-07T09:00:00+00:00", "07/01/2026"))
    with pytest.raises(InvalidInput, match="'07/01/2026'") as caught:
        list(read_event_log(path, EventLogMapping.identity(), tenant_id=TENANT))
    assert "event 2" in caught.value.record


def test_other_bad_files(tmp_path: Path, mapping: EventLogMapping) -> None:
    with pytest.raises(InvalidInput, match=r"expected a \.xes"):
        read_event_log(_write(tmp_path, "log.txt", ""), mapping, tenant_id=TENANT)
    with pytest.raises(InvalidInput, match="missing columns 'task', 'when'"):
        read_event_log(_write(tmp_path, "a.csv", "case\nc1\n"), mapping, tenant_id=TENANT)
    with pytest.raises(InvalidInput, match="malformed XES"):
        read_event_log(_write(tmp_path, "b.xes", "<log><trace>"), mapping, tenant_id=TENANT)
    bad_value = _write(tmp_path, "c.csv", "case,task,when,amount\nc1,Won,2026-01-01,-3\n")
    with pytest.raises(InvalidInput, match="deal's value") as caught:
        list(read_event_log(bad_value, mapping, tenant_id=TENANT))
    assert caught.value.field == "amount"


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[activities]\n"Send Quote" = "quoting"\n', "'quoting' is not a PIE stage"),
        ('[case_attributes]\namount = "price"\n', "'price' is not a deal field"),
        ("[csv]\ncolumn = 'x'\n", "unknown keys in [csv]: column"),
        ("[activity]\n", "unknown keys in the top level: activity"),
        ("[activities\n", "cannot read the mapping"),
    ],
)
def test_bad_mapping_files(tmp_path: Path, toml: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        load_mapping(_write(tmp_path, "bad.toml", toml))
