"""Read an XES or CSV event log as deal histories, through an ``EventLogMapping``.

A case becomes a deal and an event whose activity maps to a stage becomes a transition into
that stage. Events mapped to "ignore" are skipped, and so are events that map to the stage the
case is already in (a stage is entered once until the deal leaves it); both are counted in
``EventLogStats``. Ids are derived from (tenant, kind, source, case id), so reading the same
log again gives the same ids.

Problems are reported before anything is yielded where they can be: every unmapped activity
at once (``UnmappedActivities``), and for CSV every unreadable row. Out-of-order events and
unreadable XES timestamps are reported when their case is reached.
"""

from __future__ import annotations

import csv
import gzip
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from pie.domain.errors import InvalidInput, UnmappedStages
from pie.domain.history import DealHistory
from pie.domain.model import Account, Deal, EntityKind, StageTransition, derive_id
from pie.mining.eventlog_mapping import IGNORE, CsvColumns, EventLogMapping

XES_CASE_ID = XES_ACTIVITY = "concept:name"
XES_TIMESTAMP = "time:timestamp"
XES_RESOURCE = "org:resource"
_XES_ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id"})


class UnmappedActivities(UnmappedStages):
    """Activities in the log that the mapping's ``[activities]`` section does not name."""

    def __init__(self, source: str, names: Sequence[str], mapping_origin: str) -> None:
        self.names = tuple(names)
        self.suggestion_path = None
        listed = ", ".join(repr(n) for n in self.names)
        InvalidInput.__init__(
            self,
            f"unmapped activities: {listed}; add each to the [activities] section of "
            f"{mapping_origin} as a PIE stage or {IGNORE!r}",
            source=source,
            field="activity",
        )


@dataclass(slots=True)
class EventLogStats:
    """What a read did; filled in as the histories are consumed."""

    cases: int = 0
    events: int = 0
    transitions: int = 0
    same_stage_skipped: int = 0  # events mapped to the stage the case was already in
    ignored: int = 0  # events whose activity maps to "ignore"
    cases_without_stages: int = 0  # cases with no stage event at all: no deal is made


@dataclass(frozen=True, slots=True)
class _Event:
    activity: str
    at: datetime
    resource: str | None


@dataclass(slots=True)
class _Case:
    case_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)


def read_event_log(
    path: Path,
    mapping: EventLogMapping,
    *,
    tenant_id: UUID,
    sort_events: bool = False,
    stats: EventLogStats | None = None,
) -> Iterator[DealHistory]:
    """Deal histories from the XES (``.xes``, ``.xes.gz``) or CSV (``.csv``) log at ``path``.

    Raises InvalidInput (now, or while iterating) for an unreadable file or timestamp, and for
    events out of time order within a case unless ``sort_events`` is set, in which case each
    case's events are sorted by time (stably). Raises UnmappedActivities, listing them all,
    before yielding anything."""
    name = path.name.lower()
    if name.endswith(".csv"):
        rows = _csv_cases(path, mapping.csv)
        activities = {e.activity for case in rows for e in case.events}
        cases: Iterable[_Case] = rows
    elif name.endswith((".xes", ".xes.gz")):
        activities = _xes_activities(path)
        cases = _xes_cases(path)
    else:
        raise InvalidInput(
            "not an event log: expected a .xes, .xes.gz or .csv file", source=str(path)
        )
    unmapped = sorted(activities - set(mapping.activities))
    if unmapped:
        raise UnmappedActivities(str(path), unmapped, mapping.origin)
    return _histories(cases, mapping, tenant_id, sort_events, stats or EventLogStats(), str(path))


def _histories(
    cases: Iterable[_Case],
    mapping: EventLogMapping,
    tenant_id: UUID,
    sort_events: bool,
    stats: EventLogStats,
    source: str,
) -> Iterator[DealHistory]:
    for case in cases:
        stats.cases += 1
        stats.events += len(case.events)
        _check_order(case, sort_events, source)
        history = _history(case, mapping, tenant_id, stats, source)
        if history is None:
            stats.cases_without_stages += 1
        else:
            stats.transitions += len(history.transitions)
            yield history


def _check_order(case: _Case, sort_events: bool, source: str) -> None:
    if sort_events:
        case.events.sort(key=lambda e: e.at)
        return
    pairs = zip(case.events, case.events[1:], strict=False)
    for number, (before, after) in enumerate(pairs, start=2):
        if after.at < before.at:
            raise InvalidInput(
                f"events out of time order: event {number} ({after.activity!r} at "
                f"{after.at.isoformat()}) is earlier than event {number - 1} "
                f"({before.activity!r} at {before.at.isoformat()}); fix the log or import "
                "with sorting on",
                source=source,
                record=f"case {case.case_id!r}",
                field="timestamp",
            )


def _history(
    case: _Case, mapping: EventLogMapping, tenant_id: UUID, stats: EventLogStats, source: str
) -> DealHistory | None:
    deal_id = derive_id(tenant_id, EntityKind.DEAL, mapping.source, case.case_id)
    transitions: list[StageTransition] = []
    last_raw = ""
    for event in case.events:
        stage = mapping.activities[event.activity]
        if stage is None:
            stats.ignored += 1
            continue
        previous = transitions[-1] if transitions else None
        if previous is not None and previous.to_stage is stage:
            stats.same_stage_skipped += 1
            continue
        transitions.append(
            StageTransition(
                id=derive_id(
                    tenant_id,
                    EntityKind.STAGE_TRANSITION,
                    mapping.source,
                    case.case_id,
                    len(transitions),
                ),
                tenant_id=tenant_id,
                deal_id=deal_id,
                from_stage=None if previous is None else previous.to_stage,
                to_stage=stage,
                at=event.at,
                days_in_from_stage=None
                if previous is None
                else (event.at - previous.at).total_seconds() / 86_400,
            )
        )
        last_raw = event.activity
    if not transitions:
        return None
    fields = _deal_fields(case, mapping, source)
    resources = [e.resource for e in case.events if e.resource]
    if "owner" not in fields and resources:
        fields["owner"] = resources[-1]
    first, last = transitions[0], transitions[-1]
    account = _account(fields.pop("account", None), tenant_id, mapping.source, first.at)
    deal = Deal(
        id=deal_id,
        tenant_id=tenant_id,
        account_id=None if account is None else account.id,
        stage=last.to_stage,
        source_stage=last_raw,
        source=mapping.source,
        external_ids={mapping.source: case.case_id},
        created_at=first.at,
        updated_at=max(e.at for e in case.events),
        closed_at=last.at if last.to_stage.is_closed else None,
        **{"name": case.case_id, **fields},
    )
    return DealHistory(deal=deal, account=account, transitions=tuple(transitions))


def _account(name: str | None, tenant_id: UUID, source: str, at: datetime) -> Account | None:
    if not name:
        return None
    return Account(
        id=derive_id(tenant_id, EntityKind.ACCOUNT, source, name),
        tenant_id=tenant_id,
        name=name,
        external_ids={source: name},
        created_at=at,
        updated_at=at,
    )


def _deal_fields(case: _Case, mapping: EventLogMapping, source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute, deal_field in mapping.case_attributes.items():
        raw = case.attributes.get(attribute, "").strip()
        if not raw:
            continue
        try:
            out[deal_field] = _convert(deal_field, raw)
        except (ValueError, InvalidOperation) as err:
            raise InvalidInput(
                f"cannot read {raw!r} as the deal's {deal_field}: {err}",
                source=source,
                record=f"case {case.case_id!r}",
                field=attribute,
            ) from err
    return out


def _convert(deal_field: str, raw: str) -> object:
    if deal_field == "value":
        value = Decimal(raw)
        if not value.is_finite() or value < 0:
            raise ValueError("must be a number >= 0")
        return value
    if deal_field == "probability":
        probability = float(raw)
        if not 0.0 <= probability <= 1.0:
            raise ValueError("must be in [0, 1]")
        return probability
    if deal_field == "expected_close":
        return date.fromisoformat(raw[:10])
    return raw


def parse_timestamp(raw: str, fmt: str | None = None) -> datetime:
    """ISO 8601 (or ``fmt`` for strptime) to an aware UTC datetime; naive means UTC."""
    at = datetime.strptime(raw.strip(), fmt) if fmt else datetime.fromisoformat(raw.strip())
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _timestamp(raw: str | None, fmt: str | None, source: str, where: str, key: str) -> datetime:
    try:
        if raw is None:
            raise ValueError("it is missing")
        return parse_timestamp(raw, fmt)
    except ValueError as err:
        expected = f"the format {fmt!r}" if fmt else "ISO 8601"
        raise InvalidInput(
            f"cannot read timestamp {raw!r} ({err}); expected {expected}",
            source=source,
            record=where,
            field=key,
        ) from err


# --- CSV ------------------------------------------------------------------------------------


def _csv_cases(path: Path, columns: CsvColumns) -> list[_Case]:
    source = str(path)
    cases: dict[str, _Case] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=columns.delimiter)
            header = reader.fieldnames or []
            missing = [
                c for c in (columns.case_id, columns.activity, columns.timestamp) if c not in header
            ]
            if missing:
                raise InvalidInput(
                    f"missing columns {', '.join(map(repr, missing))}; name the right ones in "
                    "the [csv] section of the mapping",
                    source=source,
                )
            resource = columns.resource if columns.resource in header else None
            for line, row in enumerate(reader, start=2):
                case_id = (row.get(columns.case_id) or "").strip()
                if not case_id:
                    raise InvalidInput(
                        "no case id", source=source, record=f"line {line}", field=columns.case_id
                    )
                case = cases.setdefault(case_id, _Case(case_id))
                for key, value in row.items():
                    if key is not None and value and key not in case.attributes:
                        case.attributes[key] = value
                at = _timestamp(
                    row.get(columns.timestamp),
                    columns.timestamp_format,
                    source,
                    f"line {line} (case {case_id!r})",
                    columns.timestamp,
                )
                performer = (row.get(resource) or "").strip() if resource else ""
                case.events.append(
                    _Event((row.get(columns.activity) or "").strip(), at, performer or None)
                )
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidInput(f"cannot read the CSV file: {err}", source=source) from err
    return list(cases.values())


# --- XES ------------------------------------------------------------------------------------


def _open_xes(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _attributes(element: ET.Element) -> dict[str, str]:
    """The element's own XES attributes (not nested ones) as {key: value text}."""
    return {
        child.get("key", ""): child.get("value", "")
        for child in element
        if _local(child.tag) in _XES_ATTRIBUTE_TAGS
    }


def _iter_xes(path: Path, wanted: str) -> Iterator[ET.Element]:
    """Each complete ``wanted`` element (trace or event) once parsed; memory is freed after."""
    try:
        with _open_xes(path) as handle:
            root: ET.Element | None = None
            for kind, element in ET.iterparse(handle, events=("start", "end")):
                if root is None:
                    root = element
                    if _local(root.tag) != "log":
                        raise InvalidInput("not an XES log: no <log> root", source=str(path))
                if kind != "end":
                    continue
                tag = _local(element.tag)
                if tag == wanted:
                    yield element
                    element.clear()
                if tag == "trace":
                    root.clear()  # drop the finished trace
    except ET.ParseError as err:
        raise InvalidInput(f"malformed XES: {err}", source=str(path)) from err
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise InvalidInput(f"cannot read the XES file: {err}", source=str(path)) from err


def _xes_activities(path: Path) -> set[str]:
    return {_attributes(event).get(XES_ACTIVITY, "") for event in _iter_xes(path, "event")}


def _xes_cases(path: Path) -> Iterator[_Case]:
    source = str(path)
    for number, trace in enumerate(_iter_xes(path, "trace"), start=1):
        attributes = _attributes(trace)
        case_id = attributes.get(XES_CASE_ID, "").strip()
        if not case_id:
            raise InvalidInput("trace has no concept:name", source=source, record=f"trace {number}")
        case = _Case(case_id, attributes)
        for index, event in enumerate((e for e in trace if _local(e.tag) == "event"), start=1):
            values = _attributes(event)
            at = _timestamp(
                values.get(XES_TIMESTAMP),
                None,
                source,
                f"case {case_id!r} event {index}",
                XES_TIMESTAMP,
            )
            case.events.append(
                _Event(values.get(XES_ACTIVITY, ""), at, values.get(XES_RESOURCE) or None)
            )
        yield case
