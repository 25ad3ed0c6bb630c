"""The lock one connection's sync holds while it runs (pie.ports.jobs.SyncLock), so two syncs
of one connection never overlap, whoever started them (a worker, `pie sources sync`, the API):

* PostgreSQL: a session advisory lock on a connection of its own (every machine sees it; it
  goes when the holder's connection does, a crashed worker included);
* SQLite: an exclusive ``flock`` on a file beside the database (every process on the machine
  sees it; the kernel drops it when the holder dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pie.domain.errors import Conflict

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows): the in-process lock below only
    fcntl = None  # type: ignore[assignment]


def busy(connection_id: UUID) -> Conflict:
    return Conflict(
        f"a sync of connection {connection_id} is running already; wait for it to finish "
        "(`pie sources status NAME`)"
    )


def lock_key(connection_id: UUID) -> int:
    """A signed 64-bit advisory lock key for the connection."""
    return int.from_bytes(connection_id.bytes[:8], "big", signed=True)


class PostgresSyncLock:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def hold(self, connection_id: UUID) -> AsyncIterator[None]:
        key = lock_key(connection_id)
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            if not got:
                raise busy(connection_id)
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


class LocalSyncLock:
    """For the embedded store: a file lock per connection in ``folder``, plus an in-process
    set (a process's own second sync is refused too)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: set[UUID] = set()

    @contextlib.asynccontextmanager
    async def hold(self, connection_id: UUID) -> AsyncIterator[None]:
        if connection_id in self._held:
            raise busy(connection_id)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.folder / f"sync-{connection_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise busy(connection_id) from None
            self._held.add(connection_id)
            try:
                yield
            finally:
                self._held.discard(connection_id)
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class MemorySyncLock:
    """One process only (tests, the in-memory fakes)."""

    def __init__(self) -> None:
        self._held: set[UUID] = set()
        self._guard = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self, connection_id: UUID) -> AsyncIterator[None]:
        async with self._guard:
            if connection_id in self._held:
                raise busy(connection_id)
            self._held.add(connection_id)
        try:
            yield
        finally:
            self._held.discard(connection_id)
