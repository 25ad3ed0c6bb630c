"""docs/notion.md's walkthrough, end to end, as the commands a user types: the emulator,
`pie notion setup`, `pie sync run --once`, a person editing a page in Notion
(`pie notion human-edit`), one more sync, the edit in `pie deals show` and the conflict in
`pie sync log`. (The tenant is seeded with three deals instead of `pie demo`'s hundred, whose
first sync takes minutes at Notion's rate.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from pie.bootstrap import build
from pie.config import Settings
from pie.entrypoints.cli.main import app
from pie.sources.notion.emulator import NotionEmulator
from tests.e2e.seed import seed_tenant

runner = CliRunner()
TOKEN = "secret_walkthrough_7c1d"


def pie(*args: str) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def emulator() -> Iterator[NotionEmulator]:
    with NotionEmulator(tokens={TOKEN: "6b0e0000-0000-4000-8000-0000000000b7"}) as emu:
        yield emu


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: NotionEmulator) -> Settings:
    monkeypatch.setenv("PIE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PIE_NOTION_BASE_URL", emulator.url)
    monkeypatch.setenv("PIE_NOTION_TOKEN", TOKEN)
    monkeypatch.delenv("PIE_DATABASE_URL", raising=False)
    return Settings()


def sync_once() -> dict[str, Any]:
    run: dict[str, Any] = json.loads(pie("-t", "demo", "sync", "run", "--once", "--json").stdout)
    return run


def seed(settings: Settings, tenant: UUID) -> dict[str, UUID]:
    async def work() -> dict[str, UUID]:
        c = build(settings)
        try:
            return (await seed_tenant(c.uow(tenant, writes=True), "acme")).deal_ids
        finally:
            await c.aclose()

    return asyncio.run(work())


def test_a_new_user_sees_a_notion_edit_and_the_conflict(
    settings: Settings, emulator: NotionEmulator
) -> None:
    made = json.loads(pie("tenant", "create", "demo", "--json").stdout)
    tenant = UUID(made["id"])
    deals = seed(settings, tenant)

    pie("-t", "demo", "notion", "setup", "--parent", emulator.workspace.root_page_id)

    out = sync_once()  # sync the tenant out
    assert out["created_remote"] == len(deals) and not out["errors"]
    titles = set(emulator.workspace.titles().values())
    assert {"acme open-demo", "acme open-negotiation", "acme won"} <= titles

    emulator.workspace.clock.advance(120)  # a person edits a minute or two later
    pie(
        "notion",
        "human-edit",
        "acme open-demo",
        "--set",
        "Stage=proposal",  # shared: the person's edit is taken
        "--set",
        "Probability=0.99",  # agent-owned: PIE's value wins, logged as a conflict
        "--emulator",
        emulator.url,
    )

    back = sync_once()
    assert back["applied"] >= 1 and back["conflicts"] == 1 and not back["errors"]

    shown = json.loads(pie("-t", "demo", "deals", "show", str(deals["open-demo"]), "--json").stdout)
    deal = shown.get("deal", shown)
    assert deal["stage"] == "proposal"
    [conflict] = json.loads(pie("-t", "demo", "sync", "log", "--json").stdout)["conflicts"]
    assert (conflict["field"], conflict["remote"], conflict["winner"], conflict["rule"]) == (
        "probability",
        0.99,
        "pie",
        "agent_owned",
    )
    assert conflict["pie_id"] == str(deals["open-demo"])
    table = pie("-t", "demo", "sync", "log").stdout
    assert "probability" in table and "agent_owned" in table
    page = next(
        p
        for p in emulator.workspace.pages_in(next(iter(emulator.workspace.data_sources)))
        if p["properties"]["Deal Name"]["title"][0]["plain_text"] == "acme open-demo"
    )
    assert page["properties"]["Probability"]["number"] != 0.99  # overwritten with PIE's

    again = sync_once()  # quiet afterwards: no echo, nothing new
    assert again["pushed"] == 0 and again["applied"] == 0 and again["conflicts"] == 0
