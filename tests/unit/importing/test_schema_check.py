"""The compiled (fast) schema check accepts exactly what the JSON Schema accepts."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import fastjsonschema
import pytest

from pie.importing import json_stream

DEAL: dict[str, Any] = {
    "id": "D1",
    "name": "Big deal",
    "stage": "Proposal",
    "created_at": "2025-01-10T09:00:00Z",
    "account": "A1",
    "value": 1200,
    "stage_history": [{"from": None, "to": "Proposal", "at": "2025-01-10T09:00:00Z"}],
    "activities": [{"id": "X1", "type": "call", "at": "2025-01-11T09:00:00Z"}],
}

# (key, value) replacements of the deal's fields: valid and invalid ones of every merged type
CASES: list[tuple[str, Any]] = [
    ("account", None),
    ("account", ""),
    ("account", " "),
    ("account", 7),
    ("account", "x" * 256),
    ("value", Decimal("10.5")),
    ("value", -1),
    ("value", "10.50"),
    ("value", "ten"),
    ("value", None),
    ("value", True),
    ("value", [1]),
    ("updated_at", None),
    ("updated_at", "2025-01-10T09:00:00+02:00"),
    ("updated_at", "2025-01-10"),
    ("updated_at", 20250110),
    ("expected_close", "2025-01-10"),
    ("expected_close", "2025/01/10"),
    ("probability", 1.5),
    ("probability", None),
    ("probability", False),
]


@pytest.mark.parametrize(("key", "value"), CASES)
def test_the_fast_check_agrees_with_the_schema(key: str, value: Any) -> None:
    deal = copy.deepcopy(DEAL)
    deal[key] = value
    deal["stage_history"][0]["trigger_activity"] = value if key == "account" else None
    slow_valid = json_stream.validator("deal").is_valid(deal)
    try:
        json_stream.fast_validator("deal")(deal)
        fast_valid = True
    except fastjsonschema.JsonSchemaException:
        fast_valid = False
    assert fast_valid == slow_valid
    assert (json_stream.schema_problem("deal", deal) is None) == slow_valid


def test_anyof_of_single_types_is_merged_and_others_are_kept() -> None:
    merged = json_stream._merge_any_of(
        {"anyOf": [{"type": "string", "pattern": "x"}, {"type": "null"}]}
    )
    assert merged == {"type": ["string", "null"], "pattern": "x"}
    both_numbers = {"anyOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]}
    assert json_stream._merge_any_of(both_numbers) == both_numbers
    other_keyword = {"anyOf": [{"type": "string", "const": "a"}, {"type": "null"}]}
    assert json_stream._merge_any_of(other_keyword) == other_keyword
