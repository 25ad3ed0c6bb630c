"""Operating PIE from the command line: tenants, API keys (revoked keys are refused by the API at
once), the --db folder check, --version and --json on the small commands."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import pie as pie_package
from pie.bootstrap import build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from pie.entrypoints.cli.main import app
from tests.dbfixtures import Database

runner = CliRunner()


def pie(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def ok_json(*args: str | Path) -> Any:
    result = pie(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def url(db: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    # `tenant list` runs as the owner (on PostgreSQL the app role sees one tenant at a time)
    monkeypatch.setenv("PIE_ADMIN_DATABASE_URL", db.admin_url)
    return db.url


def test_tenant_list_and_rename(url: str) -> None:
    first, second = f"ops-{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:8]}"
    made = ok_json("--db", url, "tenant", "create", first)
    ok_json("--db", url, "tenant", "create", second)
    listed = {t["name"]: t for t in ok_json("--db", url, "tenant", "list")}
    assert {first, second} <= set(listed)
    assert listed[first]["id"] == made["id"]

    renamed = ok_json("--db", url, "tenant", "rename", first, f"{first}-new")
    assert (renamed["id"], renamed["name"]) == (made["id"], f"{first}-new")
    table = pie("--db", url, "tenant", "list")
    assert f"{first}-new" in table.stdout
    assert made["id"] in table.stdout

    taken = pie("--db", url, "tenant", "rename", made["id"], second)
    assert taken.exit_code == 1
    assert second in taken.output and "exists" in taken.output
    missing = pie("--db", url, "tenant", "rename", "no-such-tenant", "x")
    assert missing.exit_code == 1
    assert "tenant no-such-tenant not found" in missing.output


def test_keys_issue_list_revoke_and_a_revoked_key_is_refused_at_once(url: str) -> None:
    name = f"keys-{uuid.uuid4().hex[:8]}"
    first = ok_json("--db", url, "tenant", "create", name)["api_key"]
    issued = ok_json("--db", url, "-t", name, "key", "issue")
    second = issued["api_key"]
    assert issued["prefix"] == second[:12]
    listed = ok_json("--db", url, "-t", name, "key", "list")
    assert [k["prefix"] for k in listed] == [first[:12], second[:12]]
    assert all(k["revoked_at"] is None for k in listed)
    plain = pie("--db", url, "-t", name, "key", "list")
    assert second[:12] in plain.stdout
    assert second not in plain.stdout  # never the whole key again
    asyncio.run(_revoked_key_is_refused_by_the_running_api(url, name, first, second))
    listed = {k["prefix"]: k for k in ok_json("--db", url, "-t", name, "key", "list")}
    assert listed[second[:12]]["revoked_at"] is not None
    again = pie("--db", url, "-t", name, "key", "revoke", second[:12])
    assert again.exit_code == 1
    assert "not found" in again.output


async def _revoked_key_is_refused_by_the_running_api(
    url: str, name: str, first: str, second: str
) -> None:

    container = build(Settings(database_url=url))
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:

            async def status(key: str) -> int:
                r = await client.get("/api/deals", headers={"Authorization": f"Bearer {key}"})
                return r.status_code

            assert (await status(first), await status(second)) == (200, 200)
            revoked = await asyncio.to_thread(  # the CLI runs its own event loop
                pie, "--db", url, "-t", name, "key", "revoke", second[:12] + "…"
            )
            assert revoked.exit_code == 0, revoked.output
            assert second[:12] in revoked.stdout
            assert (await status(first), await status(second)) == (200, 401)
    finally:
        await container.aclose()


def test_db_refuses_a_sqlite_path_in_a_missing_folder_unless_create(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "deeper" / "pie.db"
    url = f"sqlite+aiosqlite:///{target}"
    refused = pie("--db", url, "tenant", "create", "acme")
    assert refused.exit_code == 1
    assert "does not exist" in refused.output and "--create" in refused.output
    assert "Traceback" not in refused.output
    assert not (tmp_path / "typo").exists()
    created = pie("--db", url, "--create", "tenant", "create", "acme")
    assert created.exit_code == 0, created.output
    assert target.exists()
    assert pie("--db", url, "tenant", "list").exit_code == 0  # the folder exists now


def test_version_and_json_on_db_current_and_generate(tmp_path: Path) -> None:
    version = pie("--version")
    assert version.exit_code == 0
    assert version.stdout.strip() == f"pie {pie_package.__version__}"
    url = f"sqlite+aiosqlite:///{tmp_path / 'pie.db'}"
    assert ok_json("--db", url, "db", "current") == {
        "revision": None,
        "head": ok_json("--db", url, "db", "current")["head"],
        "up_to_date": False,
    }
    assert pie("--db", url, "db", "upgrade").exit_code == 0
    current = ok_json("--db", url, "db", "current")
    assert current["up_to_date"] is True
    assert current["revision"] == current["head"]
    made = ok_json("generate", "--deals", "20", "--seed", "3", tmp_path / "w.json")
    assert made["deals"] == 20
    assert made["seed"] == 3
    assert Path(made["out"]).exists() and Path(made["ground_truth"]).exists()
