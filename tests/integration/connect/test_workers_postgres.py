"""Sync jobs on PostgreSQL with Procrastinate: two workers side by side run each scheduled
sync exactly once; a job whose worker was killed is retried by another and finishes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from pie import bootstrap
from pie.bootstrap import Container
from pie.ports.jobs import RUNNING, SUCCEEDED
from pie.services import connections as svc
from tests.dbfixtures import Database
from tests.fakes.connector import GOOD_TOKEN, FakeApi, FakeConnector
from tests.integration.connect.worker_main import ROOT, command, environment, settings

pytestmark = pytest.mark.postgres
EVERY_SECOND = "* * * * * *"


@pytest.fixture
def postgres(postgres_db: Database) -> Database:
    return postgres_db


@contextlib.asynccontextmanager
async def workers(containers: list[Container], **options: Any) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(
            c.run_worker(
                name=f"test-worker-{i}",
                cron=EVERY_SECOND,
                install_signal_handlers=False,
                **options,
            )
        )
        for i, c in enumerate(containers)
    ]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(t, timeout=10)


async def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


async def test_two_workers_run_each_scheduled_sync_exactly_once(
    postgres: Database, fake_vendor: FakeConnector, api: FakeApi, tmp_path: Path
) -> None:
    a = bootstrap.build(settings(postgres.url, tmp_path))
    b = bootstrap.build(settings(postgres.url, tmp_path))
    deps = a.sync_deps()
    tenants = [(await postgres.new_tenant("jobs")).tenant.id for _ in range(2)]
    made: list[tuple[UUID, UUID]] = []
    for n, t in enumerate(tenants):
        for name in (f"east-{n}", f"west-{n}"):
            c, _ = await svc.connect(
                deps, t, "fakecrm", {"api_token": GOOD_TOKEN}, name=name, schedule_minutes=60
            )
            store = deps.connections(t)
            due = dataclasses.replace(c, next_run_at=datetime.now(UTC) - timedelta(seconds=1))
            await store.save(due)
            made.append((t, c.id))

    async def all_synced() -> bool:
        for t, cid in made:
            c = await deps.connections(t).get(cid)
            if c is None or c.last_sync_at is None:
                return False
        return True

    try:
        async with workers([a, b]):
            await wait_for(all_synced)
            await asyncio.sleep(2.5)  # more ticks: nothing is due again for an hour
        names = [f"{side}-{n}" for n in range(len(tenants)) for side in ("east", "west")]
        assert {name: api.opened[name] for name in names} == dict.fromkeys(names, 1)
        queue = a.job_queue()
        for t, cid in made:
            got = await deps.connections(t).get(cid)
            assert got is not None and got.last_result is not None
            c = got
            assert got.last_result["records_synced"] == 10
            assert c.last_job_id is not None
            job = await queue.job(c.last_job_id)
            assert job is not None and job.status == SUCCEEDED and job.attempts == 1
            assert c.next_run_at is not None and c.next_run_at > datetime.now(UTC)
        status = await svc.status(deps, queue, made[0][0], c)
        assert status.job is not None and status.job.status == SUCCEEDED
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_job_of_a_killed_worker_is_retried_by_another(
    postgres: Database, fake_vendor: FakeConnector, api: FakeApi, tmp_path: Path
) -> None:
    container = bootstrap.build(settings(postgres.url, tmp_path))
    deps = container.sync_deps()
    t = (await postgres.new_tenant("crash")).tenant.id
    c, _ = await svc.connect(deps, t, "fakecrm", {"api_token": GOOD_TOKEN})
    queue = container.job_queue()
    # a worker whose sync hangs
    proc = await asyncio.to_thread(
        subprocess.Popen,
        command(postgres.url, tmp_path, 300),
        env=environment(),
        cwd=ROOT,
    )
    try:
        job_id = await svc.start_sync(deps, queue, t, c.id, full=False)

        async def running() -> bool:
            job = await queue.job(job_id)
            return job is not None and job.status == RUNNING

        await wait_for(running, seconds=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        async def done() -> bool:
            job = await queue.job(job_id)
            return job is not None and job.status == SUCCEEDED

        async with workers([container], stalled_after=2, heartbeat_every=0.5):
            await wait_for(done, seconds=60)
        job = await queue.job(job_id)
        assert job is not None and job.attempts == 2
        async with postgres.uow(t) as uow:
            assert len(list(await uow.deals.list())) == 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await container.aclose()
