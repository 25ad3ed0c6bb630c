"""/api/import/*: connect, background syncs and their status, with the fake vendor, on SQLite
(jobs in the server's process) and PostgreSQL (a Procrastinate worker); the credentials never
come back, and a source's failure is a 502 or 503."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pie.bootstrap import Container, build
from pie.config import Settings
from pie.entrypoints.api.app import create_app
from pie.sources import registry
from tests.fakes.connector import GOOD_TOKEN, FakeApi, FakeConnector, transient

SECRET = "api-test-secret-key-0123456789"


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, str]
    other: dict[str, str]
    fake: FakeApi
    seen: list[str]  # every response body, to search for the token

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("headers", self.headers)
        r = await self.client.request(method, path, **kw)
        self.seen.append(r.text)
        return r


@pytest_asyncio.fixture
async def api(db: Any, tmp_path: Path) -> AsyncIterator[Api]:
    fake = FakeApi()
    fake.seed(10)
    fake.deals["00600004"]["Amount"] = "lots"
    registry.register(FakeConnector(fake))
    settings = Settings(database_url=db.url, data_dir=tmp_path, secret_key=SECRET)
    container = build(settings)
    a = await container.tenants.create(f"imp-a-{id(container)}")
    b = await container.tenants.create(f"imp-b-{id(container)}")
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            _worker(container),
            httpx.AsyncClient(transport=transport, base_url="http://pie.test") as client,
        ):
            yield Api(
                client,
                {"Authorization": f"Bearer {a.api_key}"},
                {"Authorization": f"Bearer {b.api_key}"},
                fake,
                [],
            )
    finally:
        await container.aclose()
        registry.unregister("fakecrm")


@contextlib.asynccontextmanager
async def _worker(container: Container) -> AsyncIterator[None]:
    """On PostgreSQL a worker runs the queued jobs (SQLite runs them in-process)."""
    if not container.on_postgres:
        yield
        return
    worker = build(container.settings)
    task = asyncio.create_task(worker.run_worker(cron="* * * * * *", install_signal_handlers=False))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, timeout=10)
        await worker.aclose()


async def _finished(api: Api, connection_id: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = await api.call("GET", f"/api/import/status/{connection_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        job = body["job"]
        if job and job["id"] == job_id and job["status"] in ("succeeded", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("the job did not finish")


CONNECT = {"source": "fakecrm", "credentials": {"api_token": GOOD_TOKEN, "account": "acme"}}


async def test_connect_sync_in_the_background_and_poll_the_status(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await api.call("POST", "/api/import/connect", json=CONNECT)
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["status"] == "active" and made["sync_started"] is True and made["job_id"]
    cid = made["connection_id"]
    status = await _finished(api, cid, made["job_id"])
    assert status["job"]["status"] == "succeeded"
    assert status["records_synced"] == 9
    assert status["last_sync"] is not None
    assert status["errors"][0].startswith("00600004: Amount: ")
    assert status["last_result"]["full"] is True

    api.fake.deals["00600011"] = {
        **api.fake.deals["00600001"],
        "Id": "00600011",
        "SystemModstamp": "2025-05-01T14:00:59.000+0000",
    }
    r = await api.call("POST", f"/api/import/sync/{cid}", json={"full": False})
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    status = await _finished(api, cid, job_id)
    assert status["last_result"]["full"] is False
    assert status["last_result"]["streams"]["deals"]["read"] == 1
    assert status["records_synced"] == 1

    listed = await api.call("GET", "/api/import/connections")
    [conn] = listed.json()["connections"]
    assert conn["credential_fields"] == ["api_token"] and conn["settings"] == {"account": "acme"}

    # another tenant sees nothing of it
    r = await api.call("GET", f"/api/import/status/{cid}", headers=api.other)
    assert r.status_code == 404
    r = await api.call("POST", f"/api/import/sync/{cid}", headers=api.other)
    assert r.status_code == 404
    assert all(GOOD_TOKEN not in text for text in api.seen)
    assert caplog.records and GOOD_TOKEN not in caplog.text


async def test_the_sources_failures_are_502_and_503(api: Api) -> None:
    bad = {"source": "fakecrm", "credentials": {"api_token": "not-the-token-987"}}
    r = await api.call("POST", "/api/import/connect", json=bad)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "upstream_failed"
    assert "not-the-token-987" not in r.text

    async def down(config: Any) -> str:
        raise transient("the API is down for maintenance")

    connector = registry.connector("fakecrm")
    connector.check = down  # type: ignore[method-assign]
    r = await api.call("POST", "/api/import/connect", json=CONNECT)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "upstream_busy"
    assert r.headers["retry-after"] == "1"

    unknown = {"source": "nosuch", "credentials": {}}
    r = await api.call("POST", "/api/import/connect", json=unknown)
    assert r.status_code == 422 and "no connector for 'nosuch'" in r.text
    r = await api.call("POST", "/api/import/connect", json={"source": "fakecrm"})
    assert r.status_code == 422
    listed = await api.call("GET", "/api/import/connections")
    assert listed.json() == {"connections": []}
    assert all(GOOD_TOKEN not in text for text in api.seen)


async def test_the_openapi_document_has_the_import_routes(api: Api) -> None:
    doc = json.loads((await api.call("GET", "/openapi.json")).text)
    assert {"/api/import/connect", "/api/import/sync/{connection_id}"} <= set(doc["paths"])
    connect = doc["paths"]["/api/import/connect"]["post"]
    assert {"200", "401", "422", "502", "503"} <= set(connect["responses"])
    read = doc["components"]["schemas"]["ConnectRead"]["properties"]
    assert "credentials" not in read
