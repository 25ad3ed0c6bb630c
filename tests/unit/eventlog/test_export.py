from __future__ import annotations

import dataclasses
import importlib
import io
import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pie.domain.history import DealHistory
from pie.mining.dfg import discover_dfg
from pie.mining.eventlog_arrays import EventLog
from pie.mining.eventlog_export import OCEL_EVENT_TYPES, write_ocel, write_xes
from tests.helpers_world import load_histories

from .histories import hand_built, random_histories

XES = "{http://www.xes-standard.org/}"
pytestmark = pytest.mark.filterwarnings(
    # pm4py is test-only; it suggests an optional faster reader when it reads XES
    "ignore:Install the optional requirement:UserWarning"
)


@pytest.fixture(scope="module")
def pm4py() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pm4py and its dependencies warn on import
        return importlib.import_module("pm4py")


@pytest.fixture(scope="module")
def sample_world(tmp_path_factory: pytest.TempPathFactory) -> list[DealHistory]:
    sample = pytest.importorskip("pie.sample")
    if not hasattr(sample, "generate"):
        pytest.skip("pie.sample.generate does not exist yet")
    path = tmp_path_factory.mktemp("sample") / "world.json"
    sample.generate(path, deals=300, seed=5, conversations=False)
    histories = load_histories(path)
    assert len(histories) >= 300
    return histories


def _pm4py_matches_pie(pm4py: ModuleType, histories: list[DealHistory], path: Path) -> None:
    events = write_xes(histories, path)
    frame = pm4py.read_xes(str(path))
    assert len(frame) == events == sum(len(h.transitions) for h in histories)
    assert events > 2 * len(histories)  # enough steps for the comparison to mean something

    ours = discover_dfg(EventLog.from_histories(histories))
    counts, starts, ends = pm4py.discover_dfg(frame)
    assert counts == ours.counts()
    assert starts == ours.starts()
    assert ends == ours.ends()

    performance, _, _ = pm4py.discover_performance_dfg(frame)
    for pair, stats in performance.items():
        assert ours.seconds("mean")[pair] == pytest.approx(stats["mean"])
        assert ours.seconds("median")[pair] == pytest.approx(stats["median"])
        assert ours.seconds("total")[pair] == pytest.approx(stats["sum"])


def test_pm4py_reads_the_xes_and_finds_the_same_dfg(pm4py: ModuleType, tmp_path: Path) -> None:
    _pm4py_matches_pie(pm4py, hand_built() + random_histories(300, seed=1), tmp_path / "a.xes")


def test_pm4py_agrees_on_a_generated_sample_world(
    pm4py: ModuleType, sample_world: list[DealHistory], tmp_path: Path
) -> None:
    _pm4py_matches_pie(pm4py, sample_world, tmp_path / "world.xes")


def test_xes_declares_extensions_globals_and_trace_attributes() -> None:
    out = io.StringIO()
    histories = hand_built()
    assert write_xes(iter(histories), out) == 11
    root = ET.fromstring(out.getvalue())
    assert root.tag == f"{XES}log"
    assert root.get("xes.version") == "1849-2016"
    prefixes = {e.get("prefix") for e in root.iter(f"{XES}extension")}
    assert prefixes == {"concept", "time", "lifecycle", "org"}
    scopes = {g.get("scope") for g in root.iter(f"{XES}global")}
    assert scopes == {"trace", "event"}

    traces = root.findall(f"{XES}trace")
    assert len(traces) == 4
    first = {a.get("key"): a.get("value") for a in traces[0] if a.tag != f"{XES}event"}
    deal = histories[0].deal
    assert first["concept:name"] == str(deal.id)
    assert first["name"] == deal.name  # "&" and "<" survive escaping
    assert first["value"] == "12000.50"
    assert first["account"] == "Acme"
    assert first["outcome"] == "won"
    event = {a.get("key"): a.get("value") for a in traces[0].findall(f"{XES}event")[0]}
    assert event == {
        "concept:name": "lead",
        "time:timestamp": "2026-01-05T09:00:00+00:00",
        "lifecycle:transition": "complete",
        "org:resource": "ana",
    }
    second_event = traces[1].find(f"{XES}event")
    assert second_event is not None
    assert "org:resource" not in {a.get("key") for a in second_event}  # deal b has no owner


def _ocel(histories: list[DealHistory]) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    written = write_ocel(histories, out)
    return written, json.loads(out.getvalue())


def test_ocel_has_the_spec_keys_and_every_reference_resolves() -> None:
    histories = hand_built()
    written, doc = _ocel(histories)
    assert set(doc) == {"objectTypes", "eventTypes", "objects", "events"}
    assert written == len(doc["events"]) == 11 + 3  # 11 stage events, 3 activities

    object_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in doc["objectTypes"]}
    assert set(object_types) == {"deal", "account", "contact"}
    event_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in doc["eventTypes"]}
    assert "enter closed_won" in event_types
    assert "call" in event_types

    objects = {o["id"]: o for o in doc["objects"]}
    assert len(objects) == len(doc["objects"])  # each account and contact once
    by_type = [o["type"] for o in doc["objects"]]
    assert (by_type.count("deal"), by_type.count("account"), by_type.count("contact")) == (4, 2, 3)
    for obj in doc["objects"]:
        assert obj["type"] in object_types
        for attr in obj.get("attributes", []):
            assert set(attr) == {"name", "time", "value"}
            assert attr["name"] in object_types[obj["type"]]
        for rel in obj.get("relationships", []):
            assert set(rel) == {"objectId", "qualifier"}
            assert rel["objectId"] in objects
    for event in doc["events"]:
        assert set(event) == {"id", "type", "time", "attributes", "relationships"}
        assert event["type"] in event_types
        for attr in event["attributes"]:
            assert attr["name"] in event_types[event["type"]]
        assert {r["objectId"] for r in event["relationships"]} <= set(objects)
        assert any(r["qualifier"] == "deal" for r in event["relationships"])

    deal_a = objects[f"deal:{histories[0].deal.id}"]
    stage_values = [(a["time"], a["value"]) for a in deal_a["attributes"] if a["name"] == "stage"]
    assert [v for _, v in stage_values] == ["lead", "qualification", "closed_won"]
    assert stage_values[0][0] == "2026-01-05T09:00:00+00:00"


def test_every_event_type_is_declared_once() -> None:
    names = [t["name"] for t in OCEL_EVENT_TYPES]
    assert len(names) == len(set(names))


def test_pm4py_reads_the_ocel(pm4py: ModuleType, tmp_path: Path) -> None:
    histories = hand_built() + random_histories(100, seed=2)
    path = tmp_path / "log.jsonocel"
    written = write_ocel(histories, path)
    ocel = pm4py.read_ocel2_json(str(path))
    assert len(ocel.events) == written
    assert set(ocel.objects["ocel:type"]) == {"deal", "account", "contact"}
    assert (ocel.objects["ocel:type"] == "deal").sum() == len(histories)
    stage_events = ocel.events[ocel.events["ocel:activity"].str.startswith("enter ")]
    assert len(stage_events) == sum(len(h.transitions) for h in histories)
    related = ocel.relations[ocel.relations["ocel:qualifier"] == "deal"]
    assert len(related) == written  # every event names its deal


def _with_control_characters(histories: list[DealHistory]) -> list[DealHistory]:
    first = histories[0]
    deal = dataclasses.replace(
        first.deal, name="Acme\x01 plat\x0bform\x00 & <co>\x1f", owner="a\x08na\x0c"
    )
    return [dataclasses.replace(first, deal=deal), *histories[1:]]


def test_xes_drops_what_xml_cannot_hold_and_round_trips_through_pm4py(
    pm4py: ModuleType, tmp_path: Path
) -> None:
    histories = _with_control_characters(hand_built())
    path = tmp_path / "control.xes"
    events = write_xes(histories, path)
    root = ET.parse(path).getroot()  # a strict XML parser: any control character fails here
    first = {a.get("key"): a.get("value") for a in root.findall(f"{XES}trace")[0]}
    assert first["name"] == "Acme platform & <co>"
    assert first["owner"] == "ana"
    frame = pm4py.read_xes(str(path))
    assert len(frame) == events
    deal_id = str(histories[0].deal.id)
    names = set(frame.loc[frame["case:concept:name"] == deal_id, "case:name"])
    assert names == {"Acme platform & <co>"}
    assert set(frame.loc[frame["case:concept:name"] == deal_id, "org:resource"]) == {"ana"}


def test_ocel_drops_what_xml_cannot_hold_and_converts_to_ocel_xml_with_pm4py(
    pm4py: ModuleType, tmp_path: Path
) -> None:
    histories = _with_control_characters(hand_built())
    path = tmp_path / "control.jsonocel"
    write_ocel(histories, path)
    text = path.read_text(encoding="utf-8")
    assert "\\u00" not in text and "\\b" not in text and "\\f" not in text
    deal = next(
        o for o in json.loads(text)["objects"] if o["id"].endswith(str(histories[0].deal.id))
    )
    attributes = {a["name"]: a["value"] for a in deal["attributes"]}
    assert (attributes["name"], attributes["owner"]) == ("Acme platform & <co>", "ana")
    ocel = pm4py.read_ocel2_json(str(path))
    xml_path = tmp_path / "control.xmlocel"
    pm4py.write_ocel2_xml(ocel, str(xml_path))
    ET.parse(xml_path)  # well-formed XML
    again = pm4py.read_ocel2_xml(str(xml_path))
    assert len(again.events) == len(ocel.events)
    assert "Acme platform & <co>" in set(again.object_changes.get("name", [])) | set(
        again.objects.get("name", [])
    )
