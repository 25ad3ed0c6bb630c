"""Export deal histories as event logs other process-mining tools read.

* ``write_xes``: XES (IEEE 1849-2016). One trace per deal, one event per stage entered.
* ``write_ocel``: OCEL 2.0 JSON. Deal, account and contact objects; one event per stage
  entered and one per sales activity, each related to its deal and account.

Both stream: a history is written as soon as it is read and then dropped. OCEL lists objects
before events, so its events are spooled to a temporary file (in memory while small) and
copied after the objects.

Text XML 1.0 cannot hold (control characters other than tab, newline and carriage return;
lone surrogates; U+FFFE and U+FFFF) is dropped from names and values in both formats, so the
files stay readable by XML tools and by converters from OCEL JSON to OCEL XML.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TextIO
from xml.sax.saxutils import quoteattr

from pie.domain.history import DealHistory
from pie.domain.model import ActivityType, Deal, StageTransition, Stakeholder
from pie.domain.stages import ALL_STAGES, Stage

XES_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)
_XES_HEADER = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<log xes.version="1849-2016" xes.features="nested-attributes" '
    'xmlns="http://www.xes-standard.org/">\n'
    + "".join(
        f"  <extension name={quoteattr(n)} prefix={quoteattr(p)} uri={quoteattr(u)}/>\n"
        for n, p, u in XES_EXTENSIONS
    )
    + '  <global scope="trace">\n'
    '    <string key="concept:name" value="__INVALID__"/>\n'
    "  </global>\n"
    '  <global scope="event">\n'
    '    <string key="concept:name" value="__INVALID__"/>\n'
    '    <date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>\n'
    '    <string key="lifecycle:transition" value="complete"/>\n'
    "  </global>\n"
    '  <classifier name="Activity" keys="concept:name"/>\n'
    '  <classifier name="Activity classifier" keys="concept:name lifecycle:transition"/>\n'
    '  <string key="concept:name" value="PIE deal stage history"/>\n'
)


#: Characters XML 1.0 cannot hold, not even as character references.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: The same characters in text json.dumps wrote (control characters as \b, \f or \u00XX); a
#: false alarm (an escaped backslash before "b") only costs a second, cleaned dump.
_NOT_XML_IN_JSON = re.compile(r"\\[bf]|\\u00[01][0-9a-fA-F]|[\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot hold."""
    return NOT_XML.sub("", value)


def _xml_safe(item: Any) -> Any:
    if isinstance(item, str):
        return xml_text(item)
    if isinstance(item, dict):
        return {xml_text(k): _xml_safe(v) for k, v in item.items()}
    if isinstance(item, list | tuple):
        return [_xml_safe(v) for v in item]
    return item


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset; a naive datetime is taken to be UTC."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat()


def stage_event_type(stage: Stage) -> str:
    """The OCEL event type of a deal entering ``stage``."""
    return f"enter {stage}"


@contextmanager
def _text_out(out: TextIO | Path) -> Iterator[TextIO]:
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="\n") as handle:
            yield handle
    else:
        yield out


# --- XES ------------------------------------------------------------------------------------


def _xes_attr(kind: str, key: str, value: str) -> str:
    return f"<{kind} key={quoteattr(xml_text(key))} value={quoteattr(xml_text(value))}/>"


def _xes_trace(history: DealHistory) -> str:
    deal = history.deal
    attrs = [
        _xes_attr("string", "concept:name", str(deal.id)),
        _xes_attr("string", "name", deal.name),
        _xes_attr("string", "outcome", str(deal.outcome)),
        _xes_attr("string", "stage", str(deal.stage)),
        _xes_attr("string", "currency", deal.currency),
    ]
    if deal.value is not None:
        attrs.append(_xes_attr("float", "value", format(deal.value, "f")))
    if history.account is not None:
        attrs.append(_xes_attr("string", "account", history.account.name))
    if deal.owner:
        attrs.append(_xes_attr("string", "owner", deal.owner))
    if deal.product_line:
        attrs.append(_xes_attr("string", "product_line", deal.product_line))
    lines = ["  <trace>", *(f"    {a}" for a in attrs)]
    for transition in history.transitions:
        lines.append("    <event>")
        lines.append(f"      {_xes_attr('string', 'concept:name', str(transition.to_stage))}")
        lines.append(f"      {_xes_attr('date', 'time:timestamp', iso(transition.at))}")
        lines.append(f"      {_xes_attr('string', 'lifecycle:transition', 'complete')}")
        if deal.owner:
            lines.append(f"      {_xes_attr('string', 'org:resource', deal.owner)}")
        lines.append("    </event>")
    lines.append("  </trace>\n")
    return "\n".join(lines)


def write_xes(histories: Iterable[DealHistory], out: TextIO | Path) -> int:
    """Write one XES trace per history (``concept:name`` = deal id; deal name, value,
    currency, account, owner, stage and outcome as trace attributes) with one event per stage
    transition (``concept:name`` = stage entered, ``time:timestamp``,
    ``lifecycle:transition`` complete, ``org:resource`` = deal owner if any).
    Returns the number of events written."""
    events = 0
    with _text_out(out) as handle:
        handle.write(_XES_HEADER)
        for history in histories:
            handle.write(_xes_trace(history))
            events += len(history.transitions)
        handle.write("</log>\n")
    return events


# --- OCEL 2.0 -------------------------------------------------------------------------------

STATIC_TIME = "1970-01-01T00:00:00+00:00"  # OCEL 2.0's time for an attribute that never changes

OCEL_OBJECT_TYPES: list[dict[str, Any]] = [
    {
        "name": "deal",
        "attributes": [
            {"name": "name", "type": "string"},
            {"name": "stage", "type": "string"},
            {"name": "value", "type": "float"},
            {"name": "currency", "type": "string"},
            {"name": "owner", "type": "string"},
            {"name": "outcome", "type": "string"},
            {"name": "product_line", "type": "string"},
        ],
    },
    {
        "name": "account",
        "attributes": [
            {"name": "name", "type": "string"},
            {"name": "industry", "type": "string"},
            {"name": "country", "type": "string"},
            {"name": "employees", "type": "integer"},
        ],
    },
    {"name": "contact", "attributes": [{"name": "roles", "type": "string"}]},
]
_STAGE_EVENT_ATTRIBUTES = [
    {"name": "from_stage", "type": "string"},
    {"name": "value", "type": "float"},
    {"name": "probability", "type": "float"},
]
_ACTIVITY_EVENT_ATTRIBUTES = [
    {"name": "outcome", "type": "string"},
    {"name": "subject", "type": "string"},
]
OCEL_EVENT_TYPES: list[dict[str, Any]] = [
    *({"name": stage_event_type(s), "attributes": _STAGE_EVENT_ATTRIBUTES} for s in ALL_STAGES),
    *({"name": str(t), "attributes": _ACTIVITY_EVENT_ATTRIBUTES} for t in ActivityType),
]


def _attr(name: str, value: object, time: str = STATIC_TIME) -> dict[str, Any]:
    if isinstance(value, Decimal):
        value = float(value)
    return {"name": name, "time": time, "value": value}


def _deal_object(history: DealHistory) -> dict[str, Any]:
    deal = history.deal
    attributes = [_attr("name", deal.name), _attr("currency", deal.currency)]
    stage_changes = [_attr("stage", str(t.to_stage), iso(t.at)) for t in history.transitions]
    attributes += stage_changes or [_attr("stage", str(deal.stage))]
    value_changes = [
        _attr("value", t.value, iso(t.at)) for t in history.transitions if t.value is not None
    ]
    if value_changes:
        attributes += value_changes
    elif deal.value is not None:
        attributes.append(_attr("value", deal.value))
    attributes.append(_attr("outcome", str(deal.outcome)))
    for name in ("owner", "product_line"):
        if (value := getattr(deal, name)) is not None:
            attributes.append(_attr(name, value))
    relationships = [
        {"objectId": f"contact:{s.contact_id}", "qualifier": _roles(s) or "stakeholder"}
        for s in history.stakeholders
    ]
    if deal.account_id is not None:
        relationships.append({"objectId": f"account:{deal.account_id}", "qualifier": "account"})
    return {
        "id": f"deal:{deal.id}",
        "type": "deal",
        "attributes": attributes,
        "relationships": relationships,
    }


def _roles(stakeholder: Stakeholder) -> str:
    return ",".join(str(r) for r in stakeholder.roles)


def _account_object(history: DealHistory) -> dict[str, Any] | None:
    account = history.account
    if account is None or account.id != history.deal.account_id:
        account_id = history.deal.account_id  # the deal names an account the history lacks
        return None if account_id is None else {"id": f"account:{account_id}", "type": "account"}
    attributes = [_attr("name", account.name)]
    for name in ("industry", "country", "employees"):
        if (value := getattr(account, name)) is not None:
            attributes.append(_attr(name, value))
    return {"id": f"account:{account.id}", "type": "account", "attributes": attributes}


def _contact_objects(history: DealHistory) -> Iterator[dict[str, Any]]:
    """The history's stakeholders' contacts, then activity participants who are not
    stakeholders (with no attributes), so every relationship names an object in the log."""
    account_id = history.deal.account_id
    for stakeholder in history.stakeholders:
        obj: dict[str, Any] = {"id": f"contact:{stakeholder.contact_id}", "type": "contact"}
        obj["attributes"] = [_attr("roles", _roles(stakeholder))] if stakeholder.roles else []
        if account_id is not None and stakeholder.account_id == account_id:
            obj["relationships"] = [{"objectId": f"account:{account_id}", "qualifier": "works at"}]
        yield obj
    for activity in history.activities:
        for contact_id in activity.participants:
            yield {"id": f"contact:{contact_id}", "type": "contact"}


def _deal_relationships(deal: Deal) -> list[dict[str, str]]:
    related = [{"objectId": f"deal:{deal.id}", "qualifier": "deal"}]
    if deal.account_id is not None:
        related.append({"objectId": f"account:{deal.account_id}", "qualifier": "account"})
    return related


def _stage_event(deal: Deal, transition: StageTransition) -> dict[str, Any]:
    attributes: list[dict[str, Any]] = []
    if transition.from_stage is not None:
        attributes.append({"name": "from_stage", "value": str(transition.from_stage)})
    if transition.value is not None:
        attributes.append({"name": "value", "value": float(transition.value)})
    if transition.probability is not None:
        attributes.append({"name": "probability", "value": transition.probability})
    return {
        "id": f"transition:{transition.id}",
        "type": stage_event_type(transition.to_stage),
        "time": iso(transition.at),
        "attributes": attributes,
        "relationships": _deal_relationships(deal),
    }


def _history_events(history: DealHistory) -> Iterator[dict[str, Any]]:
    deal = history.deal
    for transition in history.transitions:
        yield _stage_event(deal, transition)
    for activity in history.activities:
        attributes: list[dict[str, Any]] = [{"name": "outcome", "value": str(activity.outcome)}]
        if activity.subject:
            attributes.append({"name": "subject", "value": activity.subject})
        related = _deal_relationships(deal)
        related += [
            {"objectId": f"contact:{c}", "qualifier": "participant"} for c in activity.participants
        ]
        yield {
            "id": f"activity:{activity.id}",
            "type": str(activity.type),
            "time": iso(activity.occurred_at),
            "attributes": attributes,
            "relationships": related,
        }


class _Writer(Protocol):
    def write(self, text: str, /) -> object: ...


class _JsonArray:
    """Writes the items of one JSON array, comma-separated, one per line."""

    def __init__(self, handle: _Writer) -> None:
        self._handle, self._first = handle, True

    def add(self, item: dict[str, Any]) -> None:
        text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        if _NOT_XML_IN_JSON.search(text):  # rare: clean the item, not every item
            text = json.dumps(_xml_safe(item), ensure_ascii=False, separators=(",", ":"))
        self._handle.write("\n" if self._first else ",\n")
        self._handle.write(text)
        self._first = False


def write_ocel(histories: Iterable[DealHistory], out: TextIO | Path) -> int:
    """Write an OCEL 2.0 JSON log: ``objectTypes`` deal, account and contact; ``eventTypes``
    "enter <stage>" for every stage and one per activity type; ``objects`` (each account and
    contact once, with o2o relationships deal -> account and deal -> contact); ``events``
    related to their deal (qualifier "deal") and account ("account"), activities also to their
    participants. Returns the number of events written."""
    seen: set[str] = set()
    events = 0
    with (
        _text_out(out) as handle,
        tempfile.SpooledTemporaryFile(max_size=32 << 20, mode="w+", encoding="utf-8") as spool,
    ):
        handle.write('{"objectTypes":')
        handle.write(json.dumps(OCEL_OBJECT_TYPES, separators=(",", ":")))
        handle.write(',\n"eventTypes":')
        handle.write(json.dumps(OCEL_EVENT_TYPES, separators=(",", ":")))
        handle.write(',\n"objects":[')
        objects, event_items = _JsonArray(handle), _JsonArray(spool)
        for history in histories:
            candidates = [_deal_object(history), _account_object(history)]
            candidates += _contact_objects(history)
            for obj in candidates:
                if obj is not None and obj["id"] not in seen:
                    seen.add(obj["id"])
                    objects.add(obj)
            for event in _history_events(history):
                event_items.add(event)
                events += 1
        handle.write('\n],\n"events":[')
        spool.seek(0)
        while chunk := spool.read(1 << 20):
            handle.write(chunk)
        handle.write("\n]}\n")
    return events
