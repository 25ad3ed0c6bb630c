"""The `pie` command on a real database, as a user types it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pie.entrypoints.cli.main import app

runner = CliRunner()


def pie(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def url(db: Any) -> str:
    return str(db.url)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "world.json"
    result = pie("generate", "--deals", "120", "--seed", "5", out)
    assert result.exit_code == 0, result.output
    return out


def test_tenant_create_prints_id_and_key_once_and_refuses_duplicates(url: str) -> None:
    name = f"acme-{uuid.uuid4().hex[:8]}"
    result = pie("--db", url, "tenant", "create", name, "--json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["name"] == name
    assert made["api_key"].startswith("pie_")
    uuid.UUID(made["id"])
    again = pie("--db", url, "tenant", "create", name)
    assert again.exit_code == 1
    assert "Traceback" not in again.output
    assert name in again.output


def test_import_list_show_and_reimport(url: str, sample: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert pie("--db", url, "tenant", "create", name).exit_code == 0
    first = pie("--db", url, "--tenant", name, "import", sample, "--json")
    assert first.exit_code == 0, first.output
    counts = json.loads(first.stdout)["counts"]
    assert counts["deal"]["created"] == 120
    second = pie("--db", url, "--tenant", name, "import", sample, "--json")
    again = json.loads(second.stdout)["counts"]
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again.values())
    assert again["deal"]["unchanged"] == 120

    listed = json.loads(
        pie("--db", url, "-t", name, "deals", "list", "--json", "--limit", "500").stdout
    )
    assert listed["total"] == 120
    open_ = json.loads(pie("--db", url, "-t", name, "deals", "list", "--open", "--json").stdout)
    assert all(d["outcome"] == "open" for d in open_["items"])
    neg = json.loads(
        pie("--db", url, "-t", name, "deals", "list", "-s", "negotiation", "--json").stdout
    )
    assert all(d["stage"] == "negotiation" for d in neg["items"])

    shown = pie("--db", url, "-t", name, "deals", "show", "sample:D000001", "--json")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["deal"]["external_ids"] == {"sample": "D000001"}
    assert detail["transitions"][0]["from_stage"] is None
    assert detail["transitions"][-1]["to_stage"] == detail["deal"]["stage"]

    table = pie("--db", url, "-t", name, "deals", "show", detail["deal"]["id"])
    assert table.exit_code == 0
    assert "Stage transitions" in table.stdout

    accounts = json.loads(pie("--db", url, "-t", name, "accounts", "list", "--json").stdout)
    assert accounts["total"] > 0
    account = pie("--db", url, "-t", name, "accounts", "show", accounts["items"][0]["id"])
    assert account.exit_code == 0


def test_errors_are_one_line_without_traceback(url: str) -> None:
    no_tenant = pie("--db", url, "--tenant", "nobody-here", "deals", "list")
    assert no_tenant.exit_code == 1
    assert "tenant nobody-here not found" in no_tenant.output
    assert "Traceback" not in no_tenant.output
    missing = pie("--db", url, "deals", "list")
    assert missing.exit_code == 1
    assert "--tenant" in missing.output
    bad_stage = pie("--db", url, "--tenant", "nobody-here", "deals", "list", "-s", "nope")
    assert bad_stage.exit_code == 1


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    result = pie("--data-dir", tmp_path, "demo", "--deals", "200")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pie.db").exists()
    assert "Deals by stage" in result.stdout
    assert "win rate" in result.stdout
    assert "Deal intelligence" in result.stdout and "Political map" in result.stdout
    again = pie("--data-dir", tmp_path, "demo", "--deals", "200", "--json")
    assert again.exit_code == 0, again.output
    body = json.loads(again.stdout)
    assert body["api_key"] is None  # the demo tenant exists: no new key
    assert body["summary"]["deals"] == 200
    assert body["imported"]["counts"]["deal"]["unchanged"] == 200
    assert {"periods", "as_of"} <= set(body["pipeline"])
    assert "baselines" in body["backtest"]
    assert Path(body["report"]).exists()
    shown = body["intelligence"]
    assert shown and all(d["plan"].startswith("# Opportunity plan") for d in shown)
    assert any(d["qualification"]["fields"] for d in shown)


def test_db_upgrade_current_and_downgrade_on_a_new_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    assert pie("--db", url, "db", "current").stdout.strip() == "none"
    up = pie("--db", url, "db", "upgrade")
    assert up.exit_code == 0, up.output
    head = pie("--db", url, "db", "current").stdout.strip()
    assert head != "none"
    assert head in up.stdout
    down = pie("--db", url, "db", "downgrade", "base")
    assert down.exit_code == 0, down.output
    assert pie("--db", url, "db", "current").stdout.strip() == "none"
