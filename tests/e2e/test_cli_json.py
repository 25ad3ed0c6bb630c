"""Every command that prints data has --json: the schema commands and the event-log export."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pie.entrypoints.cli.main import app

runner = CliRunner()


def test_db_upgrade_and_export_print_json(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pie.db'}"
    up = runner.invoke(app, ["--db", url, "db", "upgrade", "--json"])
    assert up.exit_code == 0, up.output
    head = json.loads(up.stdout)["revision"]
    assert (
        json.loads(runner.invoke(app, ["--db", url, "db", "current", "--json"]).stdout)["revision"]
        == head
    )
    assert runner.invoke(app, ["--db", url, "tenant", "create", "acme"]).exit_code == 0
    out = tmp_path / "log.xes"
    exported = runner.invoke(
        app, ["--db", url, "-t", "acme", "export", "eventlog", str(out), "--json"]
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout) == {
        "file": str(out),
        "format": "xes",
        "events": 0,
        "deals": 0,
    }
    refused = runner.invoke(app, ["--db", url, "-t", "acme", "export", "eventlog", "-", "--json"])
    assert refused.exit_code == 1
    down = runner.invoke(app, ["--db", url, "db", "downgrade", "base", "--json"])
    assert down.exit_code == 0, down.output
    assert json.loads(down.stdout) == {"revision": None}
