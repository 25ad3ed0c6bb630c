"""The sync lock across processes (a file lock on SQLite, an advisory lock on PostgreSQL) and
the queue's answers: a connection never has two syncs waiting; an unknown job is None."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pie.adapters.db.engine import make_engine
from pie.adapters.locks import LocalSyncLock, PostgresSyncLock
from pie.bootstrap import build
from pie.domain.errors import Conflict
from pie.ports.jobs import QUEUED
from tests.dbfixtures import Database
from tests.integration.connect.worker_main import settings


async def test_the_local_lock_keeps_a_second_holder_out(tmp_path: Path) -> None:
    cid = uuid.uuid4()
    one, other = LocalSyncLock(tmp_path), LocalSyncLock(tmp_path)  # two processes' worth
    async with one.hold(cid):
        with pytest.raises(Conflict, match="running already"):
            async with other.hold(cid):
                pass
        with pytest.raises(Conflict):
            async with one.hold(cid):
                pass
        async with other.hold(uuid.uuid4()):  # another connection is free
            pass
    async with other.hold(cid):  # released
        pass


@pytest.mark.postgres
async def test_the_advisory_lock_keeps_a_second_holder_out(postgres_db: Database) -> None:
    cid = uuid.uuid4()
    elsewhere = make_engine(postgres_db.url)  # another machine's pool
    try:
        one, other = PostgresSyncLock(postgres_db.engine), PostgresSyncLock(elsewhere)
        async with one.hold(cid):
            with pytest.raises(Conflict, match="running already"):
                async with other.hold(cid):
                    pass
        async with other.hold(cid):
            pass
    finally:
        await elsewhere.dispose()


@pytest.mark.postgres
async def test_a_connection_never_has_two_syncs_waiting(
    postgres_db: Database, tmp_path: Path
) -> None:
    container = build(settings(postgres_db.url, tmp_path))
    try:
        queue = container.job_queue()
        tenant, cid = uuid.uuid4(), uuid.uuid4()
        first = await queue.enqueue_sync(tenant, cid, full=False)
        again = await queue.enqueue_sync(tenant, cid, full=True)
        other = await queue.enqueue_sync(tenant, uuid.uuid4(), full=False)
        assert again == first and other != first
        job = await queue.job(first)
        assert job is not None and job.status == QUEUED and job.attempts == 0
        assert await queue.job("999999999") is None
        assert await queue.job("local-abc") is None
    finally:
        await container.aclose()
