"""`pie connect`, `pie sources ...` and `pie emulate` with the fake vendor, on SQLite and
PostgreSQL: connect and sync with a report, list, status, incremental sync, the token never
printed, the key file private."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pie.sources import registry
from tests.e2e.test_cli import pie, url
from tests.fakes.connector import GOOD_TOKEN, FakeApi, FakeConnector, FakeEmulator, opportunity

__all__ = ["url"]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    api = FakeApi()
    api.seed(10)
    api.deals["00600004"]["Amount"] = "lots"
    registry.register(FakeConnector(api))
    registry.register_emulator(FakeEmulator())
    yield api
    registry.unregister("fakecrm")


@pytest.fixture
def cli(url: str, tmp_path: Path, api: FakeApi) -> Any:
    tenant = f"src-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> Any:
        return pie("--db", url, "--data-dir", tmp_path, "--tenant", tenant, *args)

    assert pie("--db", url, "tenant", "create", tenant).exit_code == 0
    return run


def test_connect_sync_list_status(cli: Any, api: FakeApi, tmp_path: Path) -> None:
    wrong = cli("connect", "fakecrm", "--api-token", "wrong-token-xyz", "--json")
    assert wrong.exit_code == 1
    assert "refused" in wrong.output and "wrong-token-xyz" not in wrong.output

    made = cli("connect", "fakecrm", "--api-token", GOOD_TOKEN, "--account=acme", "--json")
    assert made.exit_code == 0, made.output
    body = json.loads(made.stdout)
    assert body["status"] == "active" and body["sync_started"] is True
    assert body["checked"] == "fake account acme"
    sync = body["sync"]
    assert sync["full"] is True and sync["status"] == "succeeded"
    assert sync["counts"]["deal"]["created"] == 9
    assert sync["failed"][0]["record_id"] == "00600004"
    assert sync["failed"][0]["field"] == "Amount"
    # the key file PIE made for the credentials: readable by its owner only
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600

    listed = cli("sources", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["name"] == "fakecrm" and row["settings"] == {"account": "acme"}
    assert row["credential_fields"] == ["api_token"] and row["records_synced"] == 9

    api.deals["00600002"] = opportunity(2, stage="Closed Won", modified=40)
    again = cli("sources", "sync", "fakecrm", "--json")
    assert again.exit_code == 0, again.output
    result = json.loads(again.stdout)
    assert result["full"] is False and result["streams"]["deals"]["read"] == 1
    assert result["counts"]["deal"]["updated"] == 1

    table = cli("sources", "sync", "fakecrm", "--full")
    assert table.exit_code == 0, table.output
    assert "full sync of fakecrm succeeded" in table.stdout
    assert "00600004" in table.stdout and "Amount" in table.stdout

    status = cli("sources", "status", "fakecrm", "--json")
    assert status.exit_code == 0, status.output
    s = json.loads(status.stdout)
    assert s["records_synced"] == 9 and s["last_sync"] is not None
    assert s["errors"] and s["errors"][0].startswith("00600004: Amount")
    human = cli("sources", "status", "fakecrm")
    assert "fakecrm: active" in human.stdout

    outputs = [wrong.output, made.output, listed.output, again.output, table.output]
    outputs += [status.output, human.output, cli("sources", "list").output]
    assert all(GOOD_TOKEN not in o for o in outputs)

    every = cli("sources", "schedule", "fakecrm", "--every", "15", "--json")
    assert every.exit_code == 0, every.output
    assert json.loads(every.stdout)["schedule_minutes"] == 15
    paused = cli("sources", "schedule", "fakecrm", "--pause")
    assert "fakecrm: every 15 min, paused" in paused.stdout
    resumed = json.loads(cli("sources", "schedule", "fakecrm", "--resume", "--json").stdout)
    assert resumed["state"] == "active" and resumed["next_run_at"] is not None
    off = json.loads(cli("sources", "schedule", "fakecrm", "--off", "--json").stdout)
    assert off["schedule_minutes"] is None and off["next_run_at"] is None

    missing = cli("sources", "status", "nosuch")
    assert missing.exit_code == 1 and "nosuch" in missing.output
    removed = cli("sources", "remove", "fakecrm")
    assert removed.exit_code == 0
    assert json.loads(cli("sources", "list", "--json").stdout) == []


def test_vendors_and_unknown_fields(cli: Any) -> None:
    listed = cli("sources", "vendors", "--json")
    assert listed.exit_code == 0, listed.output
    fake = next(v for v in json.loads(listed.stdout) if v["vendor"] == "fakecrm")
    flow = fake["auth_flows"][0]
    assert flow["name"] == "api-token"
    assert {f["name"]: f["secret"] for f in flow["fields"]} == {"api_token": True, "account": False}
    bad = cli("connect", "fakecrm", "--api-token", "x", "--password", "y", "--no-check")
    assert bad.exit_code == 1 and "takes no 'password'" in bad.output


def test_emulate_prints_the_base_urls() -> None:
    registry.register_emulator(FakeEmulator())
    try:
        got = pie("emulate", "fakecrm", "--seconds", "0", "--json")
        assert got.exit_code == 0, got.output
        urls = json.loads(got.stdout)
        assert urls["fakecrm"].startswith("http://127.0.0.1:")
        text = pie("emulate", "fakecrm", "--seconds", "0", "--deals", "3")
        assert "pie connect fakecrm --base-url http://127.0.0.1:" in text.stdout
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            busy = pie("emulate", "fakecrm", "--seconds", "0", "--port", port)
        assert busy.exit_code == 1
        assert f"fakecrm emulator: cannot listen on 127.0.0.1:{port}" in busy.output
        missing = pie("emulate", "nosuch", "--seconds", "0")
        assert missing.exit_code == 1 and "no emulator for 'nosuch'" in missing.output
    finally:
        registry.unregister("fakecrm")


def test_a_background_sync_is_queued_on_postgresql_only(cli: Any, url: str) -> None:
    made = cli("connect", "fakecrm", "--api-token", GOOD_TOKEN, "--no-sync", "--json")
    assert made.exit_code == 0, made.output
    queued = cli("sources", "sync", "fakecrm", "--background", "--json")
    if url.startswith("sqlite"):
        assert queued.exit_code == 1 and "needs the PostgreSQL store" in queued.output
        return
    assert queued.exit_code == 0, queued.output
    job_id = json.loads(queued.stdout)["job_id"]
    again = json.loads(cli("sources", "sync", "fakecrm", "--background", "--json").stdout)
    assert again["job_id"] == job_id  # still waiting: the same job
    status = json.loads(cli("sources", "status", "fakecrm", "--json").stdout)
    assert status["job"] == {
        "id": job_id,
        "status": "queued",
        "attempts": 0,
        "scheduled_at": status["job"]["scheduled_at"],
        "error": None,
    }
    asyncio.run(_cancel(url, int(job_id)))  # no worker of a later test is to run it


async def _cancel(url: str, job_id: int) -> None:
    from pie.adapters.jobs import ProcrastinateQueue
    from pie.bootstrap import build
    from pie.config import Settings

    container = build(Settings(database_url=url))
    try:
        queue = container.job_queue()
        assert isinstance(queue, ProcrastinateQueue)
        await queue.job(str(job_id))  # opens the queue
        assert await queue.app.job_manager.cancel_job_by_id_async(job_id, delete_job=True)
    finally:
        await container.aclose()
