"""Several `pie import` processes and the HTTP API on one SQLite file at once (issue 7, item 3):
everything lands, nothing is half-stored, and a lock held for too long is one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import pie
from pie.bootstrap import build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from pie.entrypoints.cli.main import app

SRC = str(Path(pie.__file__).resolve().parents[1])
CLI = "from pie.entrypoints.cli.main import app; app(prog_name='pie')"


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "80", **extra}


def pie_cli(*args: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", CLI, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, env=env(**extra), timeout=300)


async def pie_async(*args: str | Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        *map(str, args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(),
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def in_process(*args: str | Path) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("worlds")
    for seed in (1, 2):
        in_process("generate", "--deals", "150", "--seed", str(seed), folder / f"w{seed}.json")
    return folder / "w1.json", folder / "w2.json"


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str]:
    """A new SQLite store with a tenant `acme`: its URL and the tenant's API key."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pie.db'}"
    made = in_process("--db", url, "tenant", "create", "acme", "--json")
    return url, json.loads(made)["api_key"]


async def test_two_imports_of_one_file_a_third_import_and_api_reads_all_land(
    tmp_path: Path, store: tuple[str, str], worlds: tuple[Path, Path]
) -> None:
    (url, key), (first, second) = store, worlds
    container = build(Settings(database_url=url))
    transport = httpx.ASGITransport(app=create_app(container))
    answers: list[int] = []

    async def read_while(imports: asyncio.Future[Any]) -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client:
            headers = {"Authorization": f"Bearer {key}"}
            while not imports.done():
                r = await client.get("/api/deals", headers=headers, params={"limit": 5})
                answers.append(r.status_code)
                await asyncio.sleep(0.05)

    base = ("--db", url, "--tenant", "acme", "import")
    imports = asyncio.gather(
        pie_async(*base, first, "--json"),
        pie_async(*base, first, "--json"),  # the same records at the same time
        pie_async(*base, second, "--source", "other", "--json"),
    )
    try:
        await read_while(imports)
        results = await imports
    finally:
        await container.aclose()

    for code, _out, err in results:
        assert code == 0, err
    reports = [json.loads(out)["counts"]["deal"] for _code, out, _err in results]
    assert sorted(r["created"] for r in reports[:2]) == [0, 150]  # one stored, one found them
    assert sorted(r["unchanged"] for r in reports[:2]) == [0, 150]
    assert reports[2]["created"] == 150
    assert answers and set(answers) == {200}
    with sqlite3.connect(tmp_path / "pie.db") as check:
        assert check.execute("SELECT count(*) FROM deals").fetchone() == (300,)


def test_a_lock_held_too_long_is_one_line_and_nothing_is_stored(
    tmp_path: Path, store: tuple[str, str], worlds: tuple[Path, Path]
) -> None:
    url, first = store[0], worlds[0]
    holder = sqlite3.connect(tmp_path / "pie.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer that does not finish
        result = pie_cli(
            "--db", url, "--tenant", "acme", "import", first, PIE_SQLITE_BUSY_TIMEOUT="0.5"
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1
    assert "store is busy" in error[0] and "run the command again" in error[0]
    assert "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "pie.db") as check:
        assert check.execute("SELECT count(*) FROM deals").fetchone() == (0,)
