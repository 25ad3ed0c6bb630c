"""`pie sync run --once`, `pie sync status` and `pie sync log` against the Notion emulator:
sync the tenant out, a person edits a page, one more run, the edit in PIE and the conflict
in the log; `--once` and `--every` are exclusive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pie.config import Settings
from pie.entrypoints.cli.main import app
from pie.sources.notion.emulator import NotionEmulator
from tests.e2e.test_notion_walkthrough import seed

runner = CliRunner()
TOKEN = "secret_sync_cli_2b7e"


def pie(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def emulator() -> Iterator[NotionEmulator]:
    with NotionEmulator(tokens={TOKEN: "6b0e0000-0000-4000-8000-0000000000c1"}) as emu:
        yield emu


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: NotionEmulator) -> Settings:
    monkeypatch.setenv("PIE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PIE_NOTION_BASE_URL", emulator.url)
    monkeypatch.setenv("PIE_NOTION_TOKEN", TOKEN)
    monkeypatch.delenv("PIE_DATABASE_URL", raising=False)
    return Settings()


def test_sync_run_status_and_log(settings: Settings, emulator: NotionEmulator) -> None:
    from uuid import UUID

    tenant = UUID(json.loads(pie("tenant", "create", "demo", "--json").stdout)["id"])
    deals = seed(settings, tenant)
    before = json.loads(pie("-t", "demo", "sync", "status", "--json").stdout)
    assert before["status"] == "idle" and before["pending_changes"] > 0
    pie("-t", "demo", "notion", "setup", "--parent", emulator.workspace.root_page_id)

    out = json.loads(pie("-t", "demo", "sync", "run", "--once", "--json").stdout)
    assert out["created_remote"] == len(deals) and not out["errors"], out
    status = json.loads(pie("-t", "demo", "sync", "status", "--json").stdout)
    assert status["status"] == "ok" and status["linked"]["deal"] == len(deals)
    assert status["pending_changes"] == 0

    emulator.workspace.clock.advance(120)
    pie(
        "notion",
        "human-edit",
        "acme open-demo",
        "--set",
        "Stage=proposal",
        "--set",
        "Probability=0.99",
        "--emulator",
        emulator.url,
    )
    back = json.loads(pie("-t", "demo", "sync", "run", "--once", "--json").stdout)
    assert back["applied"] >= 1 and back["conflicts"] == 1, back
    shown = json.loads(pie("-t", "demo", "deals", "show", str(deals["open-demo"]), "--json").stdout)
    assert shown.get("deal", shown)["stage"] == "proposal"

    log = json.loads(pie("-t", "demo", "sync", "log", "--json").stdout)
    [entry] = log["conflicts"]
    assert (entry["field"], entry["remote"], entry["winner"], entry["rule"]) == (
        "probability",
        0.99,
        "pie",
        "agent_owned",
    )
    text = pie("-t", "demo", "sync", "log").stdout
    assert "probability" in text and "agent_owned" in text
    assert "ok" in pie("-t", "demo", "sync", "status").stdout


def test_once_and_every_are_exclusive(settings: Settings) -> None:
    pie("tenant", "create", "demo")
    assert "exactly one" in pie("-t", "demo", "sync", "run", code=1).output
    assert (
        "exactly one" in pie("-t", "demo", "sync", "run", "--once", "--every", "5", code=1).output
    )
