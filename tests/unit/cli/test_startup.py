"""`pie --help`, `pie --version` and every command's --help start without loading the heavy
libraries: those load inside the command that uses them (bench/cli_startup_bench.py times it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pie

HEAVY = (
    "numpy",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "fastapi",
    "starlette",
    "uvicorn",
    # pydantic itself is not listed: typer loads it to render a command's help
    "pydantic_settings",
    "jsonschema",
    "fastjsonschema",
    "pie.sample",
    "pie.mining",
    "pie.simulation",
    "pie.importing",
    "pie.adapters",
    "pie.services",
    "pie.bootstrap",
    "pie.config",
)

PROBE = """
import json, sys
from pie.entrypoints.cli.main import app
sys.argv = ["pie", *json.loads(sys.argv[1])]
try:
    app()
except SystemExit:
    pass
with open(OUT, "w") as f:
    json.dump(sorted(sys.modules), f)
"""


def loaded_modules(args: list[str], tmp_path: Path) -> list[str]:
    out = tmp_path / "modules.json"
    src = str(Path(pie.__file__).resolve().parents[1])
    subprocess.run(
        [sys.executable, "-c", PROBE.replace("OUT", repr(str(out))), json.dumps(args)],
        check=True,
        capture_output=True,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin", "COLUMNS": "80"},
    )
    modules: list[str] = json.loads(out.read_text())
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["tenant", "--help"],
        ["key", "list", "--help"],
        ["deals", "list", "--help"],
        ["forecast", "--help"],
        ["import", "--help"],
        ["export", "eventlog", "--help"],
        ["demo", "--help"],
        ["connect", "--help"],
        ["sources", "sync", "--help"],
        ["emulate", "--help"],
        ["worker", "--help"],
        ["sync", "run", "--help"],
    ],
)
def test_help_and_version_load_no_heavy_module(args: list[str], tmp_path: Path) -> None:
    assert loaded_modules(args, tmp_path) == []
