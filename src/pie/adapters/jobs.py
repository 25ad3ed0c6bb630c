"""Sync jobs on a real queue.

* **PostgreSQL**: Procrastinate (its tables live in the schema ``procrastinate``, made by
  migration 0005). ``pie worker`` processes, on any number of machines, run three tasks:
  ``pie.sync_connection`` (one sync; deferred with ``lock`` and ``queueing_lock`` set to the
  connection, so its syncs never run at once and never wait twice; retried with exponential
  waits on a TransientError or a busy lock), ``pie.schedule_syncs`` (periodic: claims the due
  connections and defers their syncs) and ``pie.retry_stalled_syncs`` (periodic: a job whose
  worker stopped sending heartbeats, a crashed one, is put back in the queue), and
  ``pie.stall_check`` (periodic, hourly by default: every tenant's deals with no activity for
  its ``stalled_after_days`` become stalled, ``pie.services.stalling``). Procrastinate defers
  each periodic run once however many workers run.
* **SQLite** (the embedded store, one machine): the same job functions run in-process
  (``InProcessQueue``), and ``pie worker`` runs the scheduler (and the hourly stall check) in a
  loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import make_url

from pie.domain.errors import Conflict, PieError, TransientError
from pie.ports.connections import SyncSchedule
from pie.ports.jobs import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobInfo, JobQueue
from pie.services.connections import SyncDeps, run_due, run_sync

log = logging.getLogger(__name__)

QUEUE_NAME = "pie"
QUEUE_SCHEMA = "procrastinate"
SYNC_TASK = "pie.sync_connection"
TICK_TASK = "pie.schedule_syncs"
STALLED_TASK = "pie.retry_stalled_syncs"
STALL_CHECK_TASK = "pie.stall_check"
#: cron of the stall check of quiet deals (hourly, on the hour)
STALL_CHECK_CRON = "0 * * * *"
#: the embedded store's worker: seconds between two stall checks
STALL_CHECK_EVERY = 3600.0
#: cron of the scheduler and of the stalled-job check (every minute; 6 fields: seconds last)
DEFAULT_CRON = "* * * * *"
#: a worker that sent no heartbeat for this long is taken for dead and its jobs retried
STALLED_AFTER = 30.0
HEARTBEAT_EVERY = 10.0
STATUS = {
    "todo": QUEUED,
    "doing": RUNNING,
    "succeeded": SUCCEEDED,
    "failed": FAILED,
    "cancelled": CANCELLED,
    "aborting": RUNNING,
    "aborted": CANCELLED,
}


def sync_lock(connection_id: UUID | str) -> str:
    return f"sync:{connection_id}"


@dataclass(frozen=True)
class JobRuntime:
    """What the job functions run with (set up by the worker)."""

    deps: SyncDeps
    schedule: SyncSchedule
    queue: JobQueue
    #: runs the stall check of every tenant (``pie.services.stalling.check_all``)
    stall_check: Callable[[], Awaitable[object]] | None = None


def conninfo(database_url: str) -> str:
    """A libpq URL (psycopg's) from PIE's SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def build_app(
    database_url: str,
    runtime: Callable[[], JobRuntime],
    *,
    cron: str = DEFAULT_CRON,
    stalled_after: float = STALLED_AFTER,
    stall_cron: str = STALL_CHECK_CRON,
) -> Any:
    """The Procrastinate app on PIE's PostgreSQL, with PIE's tasks."""
    import procrastinate
    from procrastinate.psycopg_connector import PsycopgConnector

    connector = PsycopgConnector(
        conninfo=conninfo(database_url),
        kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"},
    )
    app = procrastinate.App(connector=connector)
    retry = procrastinate.RetryStrategy(
        max_attempts=6, wait=5, exponential_wait=4, retry_exceptions={TransientError, Conflict}
    )

    @app.task(name=SYNC_TASK, queue=QUEUE_NAME, pass_context=True, retry=retry)
    async def sync_connection(
        context: Any, tenant_id: str, connection_id: str, full: bool = False
    ) -> None:
        job_id = str(context.job.id)
        await run_sync(
            runtime().deps, UUID(tenant_id), UUID(connection_id), full=full, job_id=job_id
        )

    @app.periodic(cron=cron, periodic_id="schedule")
    @app.task(name=TICK_TASK, queue=QUEUE_NAME, queueing_lock=TICK_TASK)
    async def schedule_syncs(timestamp: int) -> None:
        rt = runtime()
        await run_due(rt.schedule, rt.queue, datetime.now(UTC))

    @app.periodic(cron=cron, periodic_id="stalled")
    @app.task(name=STALLED_TASK, queue=QUEUE_NAME, queueing_lock=STALLED_TASK)
    async def retry_stalled_syncs(timestamp: int) -> None:
        stalled = await app.job_manager.get_stalled_jobs(
            task_name=SYNC_TASK, seconds_since_heartbeat=stalled_after
        )
        for job in stalled:
            log.warning("retrying sync job %s: its worker stopped", job.id)
            await app.job_manager.retry_job(job)
        await app.job_manager.prune_stalled_workers(stalled_after)

    @app.periodic(cron=stall_cron, periodic_id="stall-check")
    @app.task(name=STALL_CHECK_TASK, queue=QUEUE_NAME, queueing_lock=STALL_CHECK_TASK)
    async def stall_check(timestamp: int) -> None:
        check = runtime().stall_check
        if check is not None:
            await check()

    return app


class ProcrastinateQueue:
    """pie.ports.jobs.JobQueue on Procrastinate."""

    def __init__(self, app: Any, *, opened: bool = False) -> None:
        """``opened``: the app is opened (and closed) by its owner (a worker)."""
        self.app = app
        self._opened = opened
        self._owned = not opened

    async def _open(self) -> None:
        if not self._opened:
            self._opened = True  # before: a pool half-opened when cancelled is closed too
            await self.app.open_async()

    async def aclose(self) -> None:
        if self._opened and self._owned:
            self._opened = False
            await self.app.close_async()

    async def enqueue_sync(self, tenant_id: UUID, connection_id: UUID, *, full: bool) -> str:
        from procrastinate.exceptions import AlreadyEnqueued

        await self._open()
        lock = sync_lock(connection_id)
        for _ in range(3):
            try:
                job_id = await self.app.configure_task(
                    SYNC_TASK, queue=QUEUE_NAME, lock=lock, queueing_lock=lock
                ).defer_async(tenant_id=str(tenant_id), connection_id=str(connection_id), full=full)
                return str(job_id)
            except AlreadyEnqueued:
                waiting = await self.app.job_manager.list_jobs_async(
                    queueing_lock=lock, status="todo"
                )
                for job in waiting:
                    return str(job.id)
        raise Conflict(f"could not queue a sync of connection {connection_id}; try again")

    async def job(self, job_id: str) -> JobInfo | None:
        if not job_id.isdigit():
            return None
        await self._open()
        found = list(await self.app.job_manager.list_jobs_async(id=int(job_id)))
        if not found:
            return None
        job = found[0]
        return JobInfo(
            id=str(job.id),
            status=STATUS.get(str(job.status), str(job.status)),
            attempts=int(job.attempts),
            scheduled_at=job.scheduled_at,
        )


async def run_worker(
    app: Any,
    *,
    concurrency: int = 1,
    name: str | None = None,
    install_signal_handlers: bool = True,
    stalled_after: float = STALLED_AFTER,
    heartbeat_every: float = HEARTBEAT_EVERY,
) -> None:
    """Run a Procrastinate worker on PIE's queue until stopped (a signal, or cancelled)."""
    try:
        await app.open_async()
        await app.run_worker_async(
            queues=[QUEUE_NAME],
            concurrency=concurrency,
            name=name or f"pie-{uuid.uuid4().hex[:8]}",
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=heartbeat_every,
            stalled_worker_timeout=stalled_after,
        )
    finally:  # also when stopped while the pool was still opening
        await app.close_async()


# --- the embedded store: in-process ----------------------------------------------------------


class InProcessQueue:
    """pie.ports.jobs.JobQueue for the embedded store: a job is an asyncio task of this
    process running the same job function; its state lives as long as the process."""

    def __init__(self, deps: SyncDeps) -> None:
        self.deps = deps
        self.jobs: dict[str, JobInfo] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._by_connection: dict[UUID, str] = {}

    async def enqueue_sync(self, tenant_id: UUID, connection_id: UUID, *, full: bool) -> str:
        current = self._by_connection.get(connection_id)
        if current is not None and self.jobs[current].status == QUEUED:
            return current
        job_id = f"local-{uuid.uuid4().hex[:12]}"
        self.jobs[job_id] = JobInfo(job_id, QUEUED)
        self._by_connection[connection_id] = job_id
        previous = self._tasks.get(current) if current else None
        self._tasks[job_id] = asyncio.create_task(
            self._run(job_id, tenant_id, connection_id, full, previous)
        )
        return job_id

    async def _run(
        self,
        job_id: str,
        tenant_id: UUID,
        connection_id: UUID,
        full: bool,
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:  # one connection's syncs run one after the other
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        self.jobs[job_id] = replace(self.jobs[job_id], status=RUNNING, attempts=1)
        try:
            await run_sync(self.deps, tenant_id, connection_id, full=full, job_id=job_id)
        except PieError as err:
            self.jobs[job_id] = replace(self.jobs[job_id], status=FAILED, error=str(err))
        except Exception:  # a bug: logged with its traceback, the job marked failed
            log.exception("sync job %s failed", job_id)
            self.jobs[job_id] = replace(self.jobs[job_id], status=FAILED, error="internal error")
        else:
            self.jobs[job_id] = replace(self.jobs[job_id], status=SUCCEEDED)

    async def job(self, job_id: str) -> JobInfo | None:
        return self.jobs.get(job_id)

    async def drain(self) -> None:
        """Wait for every job started so far (tests; a server shutting down)."""
        while pending := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()


async def run_local_scheduler(
    schedule: SyncSchedule,
    queue: InProcessQueue,
    *,
    every: float = 60.0,
    stop: asyncio.Event | None = None,
    stall_check: Callable[[], Awaitable[object]] | None = None,
    stall_every: float = STALL_CHECK_EVERY,
) -> None:
    """The embedded store's worker: defer the due syncs every ``every`` seconds and run them
    in this process, and run ``stall_check`` every ``stall_every`` seconds (first at start),
    until ``stop`` is set."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    next_stall = loop.time()
    while not stop.is_set():
        try:
            await run_due(schedule, queue, datetime.now(UTC))
        except PieError as err:
            log.warning("scheduling syncs failed: %s", err)
        if stall_check is not None and loop.time() >= next_stall:
            next_stall = loop.time() + stall_every
            try:
                await stall_check()
            except PieError as err:
                log.warning("the stall check failed: %s", err)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
    await queue.drain()
