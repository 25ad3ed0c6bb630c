"""Background jobs: the queue syncs run on, and the lock that keeps one connection's syncs
apart. On PostgreSQL the queue is Procrastinate's (``pie worker`` runs the jobs, on as many
machines as wanted); on the embedded SQLite store the same job functions run in-process."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

#: a job's states, as PIE names them (the queue's own names are mapped onto these)
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    status: str  # one of the states above
    attempts: int = 0  # runs that were started (a retried job has more than one)
    scheduled_at: datetime | None = None  # a retry waits until then
    error: str | None = None


class JobQueue(Protocol):
    async def enqueue_sync(self, tenant_id: UUID, connection_id: UUID, *, full: bool) -> str:
        """Queue a sync of the connection; its job id. If one is queued and not started yet,
        that one's id (a connection never has two syncs waiting)."""
        ...

    async def job(self, job_id: str) -> JobInfo | None:
        """The job's state as the queue has it, or None if the queue does not know it."""
        ...


class SyncLock(Protocol):
    def hold(self, connection_id: UUID) -> AbstractAsyncContextManager[None]:
        """Held while a sync of the connection runs, across processes and machines;
        Conflict at once if another sync of it holds it."""
        ...
