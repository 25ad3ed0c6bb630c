"""A deal's typed qualification as the store keeps it.

``Deal.qualification`` holds ``pie.domain.intelligence.Qualification`` as JSON (one key per
BANT/MEDDIC field that is set). Migration 0003 turned older free-form snapshots into this
shape; ``read_qualification`` still accepts one (a record from an import that carries a legacy
snapshot) rather than failing: a known field with a plain value becomes a field without
evidence, anything else is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pie.domain.intelligence import QUALIFICATION_FIELDS, Qualification, QualificationField

_ALIASES = {"pain": "identify_pain", "eb": "economic_buyer"}


def read_qualification(raw: Mapping[str, Any] | None) -> Qualification:
    if not raw:
        return Qualification()
    try:
        return Qualification.model_validate(dict(raw))
    except ValidationError:
        pass
    fields: dict[str, QualificationField] = {}
    for key, value in raw.items():
        name = _ALIASES.get(str(key).lower(), str(key).lower())
        if name not in QUALIFICATION_FIELDS or value in (None, "", False, [], {}):
            continue
        try:
            fields[name] = QualificationField.model_validate(value)
        except ValidationError:
            text = value.get("value") if isinstance(value, Mapping) else value
            fields[name] = QualificationField(value=str(text)[:500], confidence=0.5)
    return Qualification(**fields)


def write_qualification(q: Qualification) -> dict[str, Any]:
    """The JSON the store keeps: only the fields that are set."""
    return q.model_dump(mode="json", exclude_none=True)


def filled(q: Qualification) -> frozenset[str]:
    """The fields with a value (evidence or a person's word)."""
    return frozenset(name for name, _ in q.items())


def human_fields(q: Qualification) -> frozenset[str]:
    return frozenset(name for name, f in q.items() if f.by_human)
