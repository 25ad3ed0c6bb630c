"""`pie conversations`, `pie stakeholders`, `pie plans`, `pie deals explain` and the
intelligence part of `pie deals show`, on a real database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pie.services.schemas.stage_rules import StageRulesRead, StallReportRead
from tests.e2e.test_cli import pie, url
from tests.unit.services.intel_world import BUYING, FOLLOW_UP, SELLER, email

__all__ = ["url"]


def _tenant(url: str) -> list[str]:
    name = f"intel-{uuid.uuid4().hex[:8]}"
    assert pie("--db", url, "tenant", "create", name).exit_code == 0
    return ["--db", url, "--tenant", name]


def test_the_workflow_from_the_command_line(url: str, tmp_path: Path) -> None:
    t = _tenant(url)
    first = tmp_path / "first.txt"
    first.write_text(email(BUYING), encoding="utf-8")
    got = pie(*t, "conversations", "add", first, "--seller-domain", SELLER, "--json")
    assert got.exit_code == 0, got.output
    done = json.loads(got.stdout)
    assert done["created_deal"] and done["extraction"]["qualification"]["budget"]
    deal = done["deal_id"]
    second = tmp_path / "second.md"
    second.write_text(
        "**Dana Reyes:** " + FOLLOW_UP + "\n**Sam Seller:** Thanks, I will send the proposal.\n",
        encoding="utf-8",
    )
    got = pie(*t, "conversations", "add", second, "--deal", deal, "--seller-domain", SELLER)
    assert got.exit_code == 0, got.output
    assert f"updated {deal}" in " ".join(got.stdout.split())
    assert all(len(line) <= 80 for line in got.stdout.splitlines())

    out = tmp_path / "map.svg"
    got = pie(*t, "stakeholders", "map", "globex.com", "--out", out)
    assert got.exit_code == 0, got.output
    assert "Mark Lee" in got.stdout
    ElementTree.parse(out)
    assert (tmp_path / "map.dot").read_text().startswith("digraph")

    got = pie(
        *t,
        "stakeholders",
        "set",
        "globex.com",
        "Mark Lee",
        "--score",
        "decision_power=3",
        "--role",
        "blocker",
        "--note",
        "told us so",
        "--json",
    )
    assert got.exit_code == 0, got.output
    mark = next(s for s in json.loads(got.stdout)["stakeholders"] if s["name"] == "Mark Lee")
    assert "blocker" in mark["roles"]
    power = next(s for s in mark["scores"] if s["name"] == "decision_power")
    assert (power["value"], power["source"], power["evidence"]) == (
        3,
        "human_override",
        "told us so",
    )

    got = pie(*t, "conversations", "reprocess", "--seller-domain", SELLER, "--json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["processed"] == 2
    got = pie(*t, "stakeholders", "map", "globex.com", "--json")
    mark = next(s for s in json.loads(got.stdout)["stakeholders"] if s["name"] == "Mark Lee")
    power = next(s for s in mark["scores"] if s["name"] == "decision_power")
    assert power["source"] == "human_override"  # the replay did not revert it

    got = pie(*t, "plans", "show", deal)
    assert got.exit_code == 0 and got.stdout.startswith("# Opportunity plan")
    got = pie(*t, "plans", "show", "globex.com", "--json")
    assert got.exit_code == 0 and json.loads(got.stdout)["kind"] == "account"
    got = pie(*t, "deals", "explain", deal)
    assert got.exit_code == 0 and "still missing" in got.stdout
    got = pie(*t, "deals", "explain", deal, "--json")
    assert json.loads(got.stdout)["interactions"] == 2
    got = pie(*t, "deals", "show", deal)
    assert got.exit_code == 0 and "Qualification" in got.stdout
    assert "Activity enrichment" in got.stdout
    got = pie(*t, "deals", "show", deal, "--json")
    assert json.loads(got.stdout)["intelligence"]["qualification"]["fields"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x00\x01\x02", "binary"), (b"\xff\xfe\xfa", "UTF-8")],
)
def test_bad_files_are_one_line_errors_and_store_nothing(
    url: str, tmp_path: Path, content: bytes, message: str
) -> None:
    t = _tenant(url)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    got = pie(*t, "conversations", "add", bad)
    assert got.exit_code == 1 and message in got.output
    assert len(got.output.strip().splitlines()) == 1
    got = pie(*t, "changes", "--json")
    assert json.loads(got.stdout)["changes"] == []
    got = pie(*t, "conversations", "add", tmp_path / "missing.txt")
    assert got.exit_code == 1
    unknown = tmp_path / "ok.txt"
    unknown.write_text(email(BUYING), encoding="utf-8")
    got = pie(*t, "conversations", "add", unknown, "--deal", str(uuid.uuid4()))
    assert got.exit_code == 1 and "not found" in got.output


def _world(body: str, *, activity_id: str = "T1") -> dict[str, object]:
    return {
        "format": "pie/v1",
        "source": "crm",
        "accounts": [{"id": "A1", "name": "Globex", "domain": "globex.com"}],
        "deals": [
            {
                "id": "D1",
                "name": "Globex renewal",
                "account": "A1",
                "stage": "demo",
                "created_at": "2026-03-01T09:00:00Z",
                "activities": [
                    {
                        "id": activity_id,
                        "type": "email",
                        "at": "2026-03-02T10:00:00Z",
                        "content": body,
                    },
                    {"id": "T0", "type": "call", "at": "2026-03-01T10:00:00Z"},  # no content
                ],
            }
        ],
    }


def test_every_import_runs_the_pipeline_once_per_activity_version(url: str, tmp_path: Path) -> None:
    t = _tenant(url)
    path = tmp_path / "world.json"
    path.write_text(json.dumps(_world(email(BUYING))), encoding="utf-8")
    got = pie(*t, "import", path, "--seller-domain", SELLER, "--json")
    assert got.exit_code == 0, got.output
    done = json.loads(got.stdout)["conversations"]
    assert (done["processed"], done["error"]) == (1, None)
    again = pie(*t, "import", path, "--seller-domain", SELLER, "--json")
    assert json.loads(again.stdout)["conversations"]["processed"] == 0  # the same version
    path.write_text(json.dumps(_world(email(FOLLOW_UP))), encoding="utf-8")
    changed = pie(*t, "import", path, "--seller-domain", SELLER)
    assert changed.exit_code == 0, changed.output
    assert "conversations: 1 processed" in changed.output  # a new version: once more
    plan = pie(*t, "plans", "show", "crm:D1", "--json")
    assert plan.exit_code == 0, plan.output
    assert "Globex" in plan.stdout


def test_an_import_can_leave_its_conversations_for_later(url: str, tmp_path: Path) -> None:
    t = _tenant(url)
    path = tmp_path / "world.json"
    path.write_text(json.dumps(_world(email(BUYING))), encoding="utf-8")
    got = pie(*t, "import", path, "--no-conversations", "--json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["conversations"] is None
    later = pie(*t, "conversations", "reprocess", "--pending", "--seller-domain", SELLER)
    assert later.exit_code == 0 and "1 processed" in later.output, later.output


def test_stage_rules_are_shown_and_set_per_tenant(url: str, tmp_path: Path) -> None:
    t = _tenant(url)
    got = pie(*t, "deals", "stage-rules", "--json")
    assert got.exit_code == 0 and json.loads(got.stdout)["stalled_after_days"] == 30
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {"stage_requirements": {"demo": {"min_interactions": 9}}, "stalled_after_days": 7}
        )
    )
    got = pie(*t, "deals", "stage-rules", rules, "--json")
    assert got.exit_code == 0, got.output
    saved = json.loads(got.stdout)
    assert saved["stalled_after_days"] == 7
    assert saved["stage_requirements"]["demo"]["min_interactions"] == 9
    assert saved["stage_requirements"]["negotiation"]["min_interactions"] == 4
    StageRulesRead.model_validate(saved)  # the API's shape
    rules.write_text(json.dumps({"stage_requirements": {"nowhere": {}}}))
    got = pie(*t, "deals", "stage-rules", rules)
    assert got.exit_code == 1 and "stage_requirements.nowhere" in got.output
    got = pie(*t, "deals", "stall-check", "--json")
    assert got.exit_code == 0, got.output
    report = StallReportRead.model_validate_json(got.stdout)
    assert report.stalled_after_days == 7 and report.stalled == []
    got = pie(*t, "deals", "stall-check")
    assert got.exit_code == 0 and "stalled" in got.output
