"""The fields PIE syncs with a CRM, their Notion properties and their default ownership
(seed 002's map, adapted to PIE's deal and contact models). Pure.

Ownership categories (the defaults; a tenant changes them through its one ownership policy,
see ``pie.domain.ownership``):

* ``agent``: PIE's agents own the field; a change made in the CRM is overwritten and logged.
* ``human``: people own the field in the CRM; the CRM's value wins and PIE never pushes it.
* ``shared``: the later write wins; changes closer than the CRM's time precision plus clock
  skew count as concurrent and go to the human (CRM) side.

Values crossing the contract are normalised JSON scalars (``pie.ports.crm``): text, select
and email ``str``; numbers ``float``; dates ``"YYYY-MM-DD"``; empty is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class RecordKind(StrEnum):
    DEAL = "deal"
    CONTACT = "contact"


class Ownership(StrEnum):
    AGENT = "agent"
    HUMAN = "human"
    SHARED = "shared"


class ValueType(StrEnum):
    TITLE = "title"
    RICH_TEXT = "rich_text"
    NUMBER = "number"
    SELECT = "select"
    DATE = "date"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class CrmField:
    """One synced field: PIE's name, the Notion property's name and type, the default owner."""

    name: str
    notion_name: str
    type: ValueType
    ownership: Ownership


#: The PIE id property every synced Notion row carries (rich_text).
PIE_ID_PROPERTY = "PIE ID"

DEAL_FIELDS: tuple[CrmField, ...] = (
    CrmField("name", "Deal Name", ValueType.TITLE, Ownership.SHARED),
    CrmField("stage", "Stage", ValueType.SELECT, Ownership.SHARED),
    CrmField("value", "Value", ValueType.NUMBER, Ownership.SHARED),
    CrmField("expected_close", "Close Date", ValueType.DATE, Ownership.SHARED),
    CrmField("product_line", "Product", ValueType.SELECT, Ownership.SHARED),
    CrmField("probability", "Probability", ValueType.NUMBER, Ownership.AGENT),
    CrmField("detection_confidence", "Confidence", ValueType.NUMBER, Ownership.AGENT),
    CrmField("owner", "Owner", ValueType.RICH_TEXT, Ownership.HUMAN),
    CrmField("lead_source", "Source", ValueType.SELECT, Ownership.HUMAN),
)

CONTACT_FIELDS: tuple[CrmField, ...] = (
    CrmField("name", "Name", ValueType.TITLE, Ownership.SHARED),
    CrmField("email", "Email", ValueType.EMAIL, Ownership.SHARED),
    CrmField("title", "Title", ValueType.RICH_TEXT, Ownership.SHARED),
    CrmField("phone", "Phone", ValueType.RICH_TEXT, Ownership.HUMAN),
)

FIELDS: Mapping[RecordKind, tuple[CrmField, ...]] = {
    RecordKind.DEAL: DEAL_FIELDS,
    RecordKind.CONTACT: CONTACT_FIELDS,
}


def field_names(kind: RecordKind) -> frozenset[str]:
    return frozenset(f.name for f in FIELDS[kind])


def field_spec(kind: RecordKind, name: str) -> CrmField:
    for spec in FIELDS[kind]:
        if spec.name == name:
            return spec
    raise KeyError(f"{kind.value}.{name} is not a synced field")


def normalise(kind: RecordKind, name: str, value: Any) -> str | float | None:
    """The contract's form of a value of ``kind.name`` (see the module docstring)."""
    if value is None:
        return None
    spec = field_spec(kind, name)
    if spec.type is ValueType.NUMBER:
        if isinstance(value, bool):
            raise ValueError(f"{kind.value}.{name}: a number, not {value!r}")
        number = float(value if not isinstance(value, str) else Decimal(value))
        if not math.isfinite(number):
            raise ValueError(f"{kind.value}.{name}: a finite number, not {value!r}")
        return number
    if spec.type is ValueType.DATE:
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return date.fromisoformat(str(value)[:10]).isoformat()
    text = str(value.value if isinstance(value, StrEnum) else value)
    return text if text != "" else None


def normalise_fields(kind: RecordKind, values: Mapping[str, Any]) -> dict[str, str | float | None]:
    """``values`` normalised, keeping only the synced fields of ``kind``."""
    names = field_names(kind)
    return {k: normalise(kind, k, v) for k, v in values.items() if k in names}
