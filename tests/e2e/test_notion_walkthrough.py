"""docs/notion.md's walkthrough, end to end: the emulator, `pie notion setup`, a sync out,
a person editing a page in Notion, one more sync, and the edit in `pie deals show` with the
conflict in the sync log. The Notion steps are the CLI a user types; the sync steps run the
SyncEngine the way `pie sync run --once` does (through ``pie.services.notion.crm``)."""

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
from pie.ports.sync import Conflict
from pie.services import notion
from pie.sources.notion.emulator import NotionEmulator
from pie.sync.engine import RunReport, SyncConfig, SyncEngine
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


def sync_once(settings: Settings, tenant: UUID) -> tuple[RunReport, list[Conflict]]:
    async def work() -> tuple[RunReport, list[Conflict]]:
        c = build(settings)
        try:
            async with notion.crm(c.notion_deps(), tenant) as crm:
                engine = SyncEngine(
                    lambda: c.uow(tenant, writes=True),
                    crm,
                    config=SyncConfig(requests_per_second=200.0),
                )
                report = await engine.run_once()
            async with c.uow(tenant) as uow:
                conflicts = list(await uow.sync.conflicts("notion"))
            return report, conflicts
        finally:
            await c.aclose()

    return asyncio.run(work())


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

    out, _ = sync_once(settings, tenant)  # sync the tenant out
    assert out.created_remote == len(deals) and not out.errors
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

    back, conflicts = sync_once(settings, tenant)
    assert back.applied >= 1 and not back.errors

    shown = json.loads(pie("-t", "demo", "deals", "show", str(deals["open-demo"]), "--json").stdout)
    deal = shown.get("deal", shown)
    assert deal["stage"] == "proposal"
    [conflict] = conflicts
    assert (conflict.field, conflict.remote, conflict.winner, conflict.rule) == (
        "probability",
        0.99,
        "pie",
        "agent_owned",
    )
    page = next(
        p
        for p in emulator.workspace.pages_in(next(iter(emulator.workspace.data_sources)))
        if p["properties"]["Deal Name"]["title"][0]["plain_text"] == "acme open-demo"
    )
    assert page["properties"]["Probability"]["number"] != 0.99  # overwritten with PIE's

    again, _ = sync_once(settings, tenant)  # quiet afterwards: no echo, nothing new
    assert again.pushed == 0 and again.applied == 0 and again.conflicts == 0
