from __future__ import annotations

import tomllib

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.stage_mapping import (
    DEFAULTS,
    StageMapper,
    StageMeta,
    infer_stage,
    normalize_name,
    parse_mapping_toml,
)
from pie.domain.stages import Stage


@pytest.mark.parametrize(
    ("source", "name", "stage"),
    [
        ("salesforce", "Prospecting", Stage.LEAD),
        ("salesforce", "Needs Analysis", Stage.DISCOVERY),
        ("salesforce", "Id. Decision Makers", Stage.DEMO),
        ("salesforce", "Proposal/Price Quote", Stage.PROPOSAL),
        ("salesforce", "Negotiation/Review", Stage.NEGOTIATION),
        ("salesforce", "Closed Lost", Stage.CLOSED_LOST),
        ("hubspot", "appointmentscheduled", Stage.LEAD),
        ("hubspot", "Decision Maker Bought-In", Stage.PROPOSAL),
        ("hubspot", "contractsent", Stage.NEGOTIATION),
        ("hubspot", "closedwon", Stage.CLOSED_WON),
        ("pipedrive", "Contact Made", Stage.DISCOVERY),
        ("pipedrive", "Negotiations Started", Stage.NEGOTIATION),
        ("pipedrive", "lost", Stage.CLOSED_LOST),
    ],
)
def test_maps_each_sources_stock_stages(source: str, name: str, stage: Stage) -> None:
    assert StageMapper(source).map(name) is stage


def test_every_default_maps_to_a_canonical_stage_and_closed_names_close() -> None:
    for table in DEFAULTS.values():
        for name, stage in table.items():
            assert stage.is_closed == ("closed" in name.lower() or name in ("won", "lost"))


def test_matching_ignores_case_and_whitespace() -> None:
    mapper = StageMapper("salesforce")
    assert mapper.map("  negotiation/REVIEW ") is Stage.NEGOTIATION
    assert mapper.map("Id.   Decision\tMakers") is Stage.DEMO
    assert normalize_name("  A  b ") == "a b"


def test_canonical_names_and_aliases_work_for_any_source() -> None:
    mapper = StageMapper("some-crm")
    assert mapper.map("Closed Won") is Stage.CLOSED_WON
    assert mapper.map("evaluation") is Stage.DEMO
    assert mapper.unmapped == {}


def test_overrides_beat_defaults_and_source_tables_beat_general_ones() -> None:
    overrides = parse_mapping_toml(
        """
[stages]
"Prospecting" = "qualification"
"Custom Step" = "demo"

[sources.salesforce]
"custom step" = "proposal"

[sources.hubspot]
"Prospecting" = "discovery"
"""
    )
    mapper = StageMapper("salesforce", overrides)
    assert mapper.map("prospecting") is Stage.QUALIFICATION
    assert mapper.map("CUSTOM STEP") is Stage.PROPOSAL
    assert StageMapper("hubspot", overrides).map("Prospecting") is Stage.DISCOVERY
    assert StageMapper("acme", overrides, vendor="salesforce").map("Custom Step") is (
        Stage.PROPOSAL
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[stages]\n"X" = "nope"\n', "X"),
        ('[stages]\n"X" = ""\n', "X"),
        ('[sources.sf]\n"Y" = 3\n', "sources.sf.Y"),
    ],
)
def test_a_mapping_file_with_a_bad_value_is_refused(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_mapping_toml(text, origin="map.toml")
    assert err.value.field == field
    assert err.value.source == "map.toml"


def test_a_mapping_file_that_is_not_toml_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid TOML"):
        parse_mapping_toml("[stages\n", origin="map.toml")


@pytest.mark.parametrize(
    ("meta", "stage"),
    [
        (StageMeta(is_closed=True, is_won=True), Stage.CLOSED_WON),
        (StageMeta(is_closed=True, is_won=False), Stage.CLOSED_LOST),
        (StageMeta(is_closed=True, probability=1.0), Stage.CLOSED_WON),
        (StageMeta(is_closed=True, probability=0.0), Stage.CLOSED_LOST),
        (StageMeta(is_closed=False, probability=0.04), Stage.LEAD),
        (StageMeta(is_closed=False, probability=0.6), Stage.PROPOSAL),
        (StageMeta(probability=0.9), Stage.NEGOTIATION),
        (StageMeta(order=0, of=4), Stage.LEAD),
        (StageMeta(order=3, of=4), Stage.NEGOTIATION),
        (StageMeta(order=1, of=3), Stage.DEMO),
        (StageMeta(is_closed=True), None),
        (StageMeta(), None),
    ],
)
def test_infers_unknown_stages_from_metadata(meta: StageMeta, stage: Stage | None) -> None:
    assert infer_stage(meta) is stage


def test_the_first_inference_for_a_name_sticks() -> None:
    mapper = StageMapper("hubspot")
    assert mapper.map("Signed", StageMeta(is_closed=True, is_won=True)) is Stage.CLOSED_WON
    assert mapper.map("signed") is Stage.CLOSED_WON
    assert mapper.unmapped == {}


def test_collects_every_unmapped_name_once_with_a_guess_from_the_hint() -> None:
    mapper = StageMapper("salesforce")
    assert mapper.map("Legal Review", hint=StageMeta(probability=0.8)) is None
    assert mapper.map("legal review") is None
    assert mapper.map("Parked") is None
    assert mapper.unmapped_names() == ["Legal Review", "Parked"]
    assert mapper.unmapped["legal review"][1] is Stage.NEGOTIATION
    assert mapper.unmapped["parked"][1] is None


def test_the_suggestion_is_a_mapping_file_that_loads_once_filled_in() -> None:
    mapper = StageMapper("salesforce")
    mapper.map("Legal Review", hint=StageMeta(probability=0.8))
    mapper.map('Odd "quoted" name')
    text = mapper.suggestion_toml(origin="deals.csv")
    doc = tomllib.loads(text)
    assert doc["sources"]["salesforce"] == {"Legal Review": "negotiation", 'Odd "quoted" name': ""}
    assert "# 'Legal Review': best guess negotiation" in text
    assert "no guess" in text
    filled = text.replace('name" = ""', 'name" = "stalled"')
    overrides = parse_mapping_toml(filled)
    again = StageMapper("salesforce", overrides)
    assert again.map("legal review") is Stage.NEGOTIATION
    assert again.map('odd "quoted" NAME') is Stage.STALLED
