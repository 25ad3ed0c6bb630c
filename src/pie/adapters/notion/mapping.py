"""PIE fields <-> Notion property values, and the schema PIE expects (seed 002's map in
``pie.domain.crm_fields``). Pure functions over Notion's JSON shapes.

Normalisations (documented, so a round trip is the identity on the contract's values):
- text longer than 2,000 characters is split into several rich-text items (Notion's limit per
  item) and joined again on the way back;
- numbers come back as ``float``; dates as ``YYYY-MM-DD`` (a time part is dropped);
- an empty title or rich text, a missing select, number, date or email is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pie.domain.crm_fields import FIELDS, PIE_ID_PROPERTY, CrmField, RecordKind, ValueType
from pie.domain.stages import Stage
from pie.ports.crm import CrmRecord, FieldValue

JsonObj = dict[str, Any]
TEXT_LIMIT = 2000

DATABASE_TITLES: Mapping[RecordKind, str] = {
    RecordKind.DEAL: "PIE Deals",
    RecordKind.CONTACT: "PIE Contacts",
}
PERCENT_FIELDS = frozenset({"probability", "detection_confidence"})


def expected_schema(kind: RecordKind) -> dict[str, str]:
    """Notion property name -> type, for every property PIE reads or writes."""
    out = {f.notion_name: f.type.value for f in FIELDS[kind]}
    out[PIE_ID_PROPERTY] = ValueType.RICH_TEXT.value
    return out


def schema_request(kind: RecordKind) -> JsonObj:
    """The ``properties`` of a data source with PIE's schema (for databases.create)."""
    props: JsonObj = {}
    for f in FIELDS[kind]:
        config: JsonObj = {}
        if f.type is ValueType.NUMBER:
            config = {"format": "percent" if f.name in PERCENT_FIELDS else "number"}
        elif f.type is ValueType.SELECT and kind is RecordKind.DEAL and f.name == "stage":
            config = {"options": [{"name": s.value} for s in Stage]}
        elif f.type is ValueType.SELECT:
            config = {"options": []}
        props[f.notion_name] = {f.type.value: config}
    props[PIE_ID_PROPERTY] = {"rich_text": {}}
    return props


def _text(value: str) -> list[JsonObj]:
    return [
        {"type": "text", "text": {"content": value[i : i + TEXT_LIMIT]}}
        for i in range(0, len(value), TEXT_LIMIT)
    ]


def to_property(spec: CrmField, value: FieldValue) -> JsonObj:
    """One Notion property value (a request body's shape) for a PIE value."""
    kind = spec.type
    if kind in (ValueType.TITLE, ValueType.RICH_TEXT):
        return {kind.value: _text(str(value)) if value not in (None, "") else []}
    if value is None:
        return {kind.value: None}
    if kind is ValueType.NUMBER:
        number = float(value)
        return {"number": int(number) if number.is_integer() and abs(number) < 2**53 else number}
    if kind is ValueType.SELECT:
        return {"select": {"name": str(value)}}
    if kind is ValueType.DATE:
        return {"date": {"start": str(value)[:10]}}
    return {"email": str(value)}


def to_properties(kind: RecordKind, fields: Mapping[str, FieldValue]) -> JsonObj:
    """Notion properties for the synced ``fields`` among ``fields`` (others are ignored)."""
    return {f.notion_name: to_property(f, fields[f.name]) for f in FIELDS[kind] if f.name in fields}


def plain(items: Any) -> str:
    return "".join(str(i.get("plain_text", "")) for i in items or [])


def from_property(spec: CrmField, prop: Mapping[str, Any] | None) -> FieldValue:
    """A PIE value from a Notion property value (a response's shape)."""
    if prop is None or prop.get("type") != spec.type.value:
        return None
    raw = prop.get(spec.type.value)
    if spec.type in (ValueType.TITLE, ValueType.RICH_TEXT):
        text = plain(raw)
        return text or None
    if raw is None:
        return None
    if spec.type is ValueType.NUMBER:
        return float(raw)
    if spec.type is ValueType.SELECT:
        return str(raw.get("name")) or None
    if spec.type is ValueType.DATE:
        start = raw.get("start")
        return str(start)[:10] if start else None
    return str(raw) or None


def pie_id_property(pie_id: UUID) -> JsonObj:
    return {PIE_ID_PROPERTY: {"rich_text": _text(str(pie_id))}}


def parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def to_record(kind: RecordKind, page: Mapping[str, Any]) -> CrmRecord:
    props = page.get("properties", {})
    raw_id = plain(props.get(PIE_ID_PROPERTY, {}).get("rich_text"))
    try:
        pie_id: UUID | None = UUID(raw_id) if raw_id else None
    except ValueError:
        pie_id = None
    return CrmRecord(
        kind=kind,
        external_id=str(page["id"]),
        pie_id=pie_id,
        fields={f.name: from_property(f, props.get(f.notion_name)) for f in FIELDS[kind]},
        last_edited_time=parse_time(str(page["last_edited_time"])),
        last_edited_by=str(page.get("last_edited_by", {}).get("id", "")),
        in_trash=bool(page.get("in_trash", page.get("archived", False))),
        created_by=str(page.get("created_by", {}).get("id", "")) or None,
    )


def schema_problems(kind: RecordKind, properties: Mapping[str, Any]) -> list[str]:
    """Every property PIE needs that is missing or has another type, one line each."""
    problems = []
    for name, kind_ in expected_schema(kind).items():
        found = properties.get(name)
        if found is None:
            problems.append(f"missing property {name!r} (expected type {kind_})")
        elif found.get("type") != kind_:
            problems.append(f"property {name!r} has type {found.get('type')}, expected {kind_}")
    return problems
