"""PIE value -> Notion property -> PIE value is the identity (invariant I12), through the
emulator's workspace (Notion's validation and response shapes, no HTTP)."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from pie.adapters.notion.mapping import (
    expected_schema,
    pie_id_property,
    schema_request,
    to_properties,
    to_record,
)
from pie.domain.crm_fields import FIELDS, RecordKind, ValueType
from pie.domain.stages import Stage
from pie.ports.crm import FieldValue
from pie.sources.notion.emulator_model import Workspace

WORKSPACE = Workspace()
SOURCES = {
    kind: WORKSPACE.create_database(
        {
            "parent": {"page_id": WORKSPACE.root_page_id},
            "initial_data_source": {"properties": schema_request(kind)},
        },
        "bot",
    )["data_sources"][0]["id"]
    for kind in RecordKind
}

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=4500).filter(
    lambda s: s != ""
)
label = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=","),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() == s and s != "")
number = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
day = st.dates().map(lambda d: d.isoformat())
email = st.emails().filter(lambda e: len(e) <= 200)


def value_of(kind: RecordKind, name: str, vtype: ValueType) -> st.SearchStrategy[FieldValue]:
    by_type: dict[ValueType, st.SearchStrategy[FieldValue]] = {
        ValueType.TITLE: text,
        ValueType.RICH_TEXT: text,
        ValueType.NUMBER: number,
        ValueType.SELECT: st.sampled_from([s.value for s in Stage])
        if (kind, name) == (RecordKind.DEAL, "stage")
        else label,
        ValueType.DATE: day,
        ValueType.EMAIL: email,
    }
    return st.none() | by_type[vtype]


@st.composite
def records(draw: st.DrawFn) -> tuple[RecordKind, dict[str, FieldValue]]:
    kind = draw(st.sampled_from(list(RecordKind)))
    fields = {f.name: draw(value_of(kind, f.name, f.type)) for f in FIELDS[kind]}
    return kind, fields


@settings(max_examples=150, deadline=None)
@given(records())
def test_a_value_survives_the_round_trip_through_notion(
    drawn: tuple[RecordKind, dict[str, FieldValue]],
) -> None:
    kind, fields = drawn
    pie_id = uuid4()
    page = WORKSPACE.create_page(
        {
            "parent": {"data_source_id": SOURCES[kind]},
            "properties": {**to_properties(kind, fields), **pie_id_property(pie_id)},
        },
        "bot",
    )
    record = to_record(kind, page)
    assert record.pie_id == pie_id
    assert dict(record.fields) == fields


def test_the_schema_setup_creates_is_the_one_check_expects() -> None:
    for kind in RecordKind:
        ds = WORKSPACE.retrieve_data_source(SOURCES[kind])
        got = {name: p["type"] for name, p in ds["properties"].items()}
        assert got == expected_schema(kind)
