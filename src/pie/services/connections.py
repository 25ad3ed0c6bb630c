"""Connections to sources and their syncs: connect (check and store the credentials), sync
(one run of a connector through the import pipeline, under the connection's lock), start a
sync as a background job, read a connection's status, and defer the scheduled syncs.

The job functions (``run_sync``, ``run_due``) are the same whether a ``pie worker`` runs them
from the PostgreSQL queue or the embedded store runs them in-process.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pie.domain.errors import InvalidInput, NotConfigured, NotFound, PieError
from pie.importing.report import KIND_ORDER, ImportReport
from pie.importing.service import AfterImport, import_source
from pie.importing.sink import DEFAULT_CHUNK_SIZE
from pie.importing.source import RawRecord, Source
from pie.ports.connections import (
    ACTIVE,
    FAILED,
    PAUSED,
    Connection,
    ConnectionStore,
    SyncSchedule,
)
from pie.ports.credentials import CredentialStore, Secret
from pie.ports.jobs import JobQueue, SyncLock
from pie.ports.uow import UnitOfWork
from pie.services.credential_saves import DeferredSaves
from pie.services.schemas.connections import (
    ConnectRead,
    FailedRecord,
    JobRead,
    KindCount,
    StatusRead,
    StreamCount,
    SyncResult,
    result_of,
)
from pie.sources import registry
from pie.sources.registry import ConnectionConfig, Connector

#: (stream, records read so far in it); called every PROGRESS_EVERY records and at a
#: stream's end
StreamProgress = Callable[[str, int], None]
PROGRESS_EVERY = 100
#: every failed record is listed in a sync's result (up to this many; the rest are counted)
MAX_FAILED_LISTED = 100_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SyncDeps:
    """What the connection use cases need, per tenant."""

    connections: Callable[[UUID], ConnectionStore]
    credentials: Callable[[UUID], CredentialStore]
    uow: Callable[[UUID], UnitOfWork]  # a writing unit of work (an import)
    lock: SyncLock
    now: Callable[[], datetime] = field(default=_utcnow)
    #: what runs on what a sync brought (the intelligence pipeline on its conversations)
    after_import: Callable[[UUID], AfterImport] | None = None


def scrub(err: BaseException, secrets: Mapping[str, Secret]) -> None:
    """Mask any secret value an error message carries (a connector's bug must not put a
    token on a terminal, in a log or in the stored result)."""
    text = str(err)
    masked = text
    for value in secrets.values():
        raw = value.reveal()
        if len(raw) >= 4 and raw in masked:
            masked = masked.replace(raw, str(value))
    if masked != text:
        err.args = (masked,)


def credential_name(connection_name: str) -> str:
    """Where a connection's secret fields are kept in the tenant's credential store."""
    return f"connection:{connection_name}"


def check_connection_name(name: str) -> str:
    if not name or len(name) > 100 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise InvalidInput(
            "must be 1 to 100 letters, digits, '-', '_' or '.'", field="name", record=name
        )
    return name


# --- connect -----------------------------------------------------------------------------


def split_fields(
    conn: Connector, auth: str | None, values: Mapping[str, str | Secret]
) -> tuple[str, dict[str, str], dict[str, Secret]]:
    """The flow's name, its plain settings and its secret fields from ``values``; InvalidInput
    naming an unknown or a missing field (never a value)."""
    flow = registry.auth_flow(conn, auth)
    known = {f.name: f for f in flow.fields}
    for key in values:
        if key not in known:
            names = ", ".join(known) or "none"
            raise InvalidInput(
                f"{conn.vendor} ({flow.name}) takes no {key!r} (it takes: {names})", field=key
            )
    plain: dict[str, str] = {}
    secret: dict[str, Secret] = {}
    for f in flow.fields:
        value = values.get(f.name)
        text = value.reveal() if isinstance(value, Secret) else value
        if not text:
            if f.required:
                raise InvalidInput(
                    f"{conn.vendor} ({flow.name}) needs {f.option} ({f.help})", field=f.name
                )
            continue
        if f.secret:
            secret[f.name] = Secret(text)
        else:
            plain[f.name] = text
    return flow.name, plain, secret


async def connect(
    deps: SyncDeps,
    tenant_id: UUID,
    vendor: str,
    values: Mapping[str, str | Secret],
    *,
    name: str | None = None,
    auth: str | None = None,
    base_url: str | None = None,
    schedule_minutes: int | None = None,
    check: bool = True,
) -> tuple[Connection, str | None]:
    """Create the connection (or update the one of that name and vendor: new credentials and
    base URL, the schedule if one is given; its cursors stay). With ``check`` the credentials
    are tried against the API before anything is stored. Returns the connection and what the
    check saw."""
    conn = registry.connector(vendor)
    flow, plain, secret = split_fields(conn, auth, values)
    name = check_connection_name(name or vendor)
    if schedule_minutes is not None and schedule_minutes < 1:
        raise InvalidInput("must be at least 1 minute", field="schedule")
    store, creds = deps.connections(tenant_id), deps.credentials(tenant_id)
    existing = await store.by_name(name)
    if existing is not None and existing.vendor != vendor:
        raise InvalidInput(
            f"the connection {name!r} is a {existing.vendor} connection: choose another --name",
            field="name",
        )
    stored: dict[str, Secret] = dict(secret)

    async def save(new: Mapping[str, Secret]) -> None:  # kept with the rest below
        stored.update(new)

    config = ConnectionConfig(name, vendor, base_url, flow, plain, stored, save)
    try:
        checked = await conn.check(config) if check else None
    except PieError as err:
        scrub(err, stored)
        raise
    now = deps.now()
    await creds.put(credential_name(name), stored)
    next_run = now + timedelta(minutes=schedule_minutes) if schedule_minutes else None
    if existing is None:
        connection = Connection(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            vendor=vendor,
            name=name,
            base_url=base_url,
            auth=flow,
            settings=plain,
            credential=credential_name(name),
            schedule_minutes=schedule_minutes,
            state=ACTIVE,
            created_at=now,
            updated_at=now,
            next_run_at=next_run,
        )
        return await store.add(connection), checked
    if schedule_minutes is None:  # kept (`pie sources schedule --off` clears it)
        schedule_minutes, next_run = existing.schedule_minutes, existing.next_run_at
    connection = dataclasses.replace(
        existing,
        base_url=base_url,
        auth=flow,
        settings=plain,
        schedule_minutes=schedule_minutes,
        next_run_at=next_run,
        state=ACTIVE,
        updated_at=now,
    )
    return await store.save(connection), checked


async def find(deps: SyncDeps, tenant_id: UUID, name_or_id: str) -> Connection:
    """A connection by name, or by id; NotFound otherwise."""
    store = deps.connections(tenant_id)
    found = await store.by_name(name_or_id)
    if found is None:
        try:
            found = await store.get(UUID(name_or_id))
        except ValueError:
            found = None
    if found is None:
        raise NotFound(f"connection {name_or_id!r}")
    return found


async def reschedule(
    deps: SyncDeps,
    tenant_id: UUID,
    connection: Connection,
    *,
    every_minutes: int | bool | None = False,
    paused: bool | None = None,
) -> Connection:
    """Change when the connection syncs: ``every_minutes`` (None: only on demand; False:
    unchanged) and ``paused`` (a paused connection's schedule is kept but not run)."""
    c = connection
    if every_minutes is not False:
        if isinstance(every_minutes, int) and not isinstance(every_minutes, bool):
            if every_minutes < 1:
                raise InvalidInput("must be at least 1 minute", field="schedule")
            c = dataclasses.replace(c, schedule_minutes=every_minutes)
        else:
            c = dataclasses.replace(c, schedule_minutes=None)
    if paused is not None:
        c = dataclasses.replace(c, state=PAUSED if paused else ACTIVE)
    now = deps.now()
    next_run = now + timedelta(minutes=c.schedule_minutes) if c.schedule_minutes else None
    c = dataclasses.replace(c, next_run_at=next_run, updated_at=now)
    return await deps.connections(tenant_id).save(c)


async def remove(deps: SyncDeps, tenant_id: UUID, connection: Connection) -> None:
    """Forget the connection and its credential (the records it brought stay)."""
    await deps.connections(tenant_id).delete(connection.id)
    await deps.credentials(tenant_id).delete(connection.credential)


# --- one sync ----------------------------------------------------------------------------


async def config_of(deps: SyncDeps, c: Connection) -> ConnectionConfig:
    """The connector's view of ``c``, with its decrypted credential and a hook that stores
    refreshed tokens."""
    creds = deps.credentials(c.tenant_id)
    secret = await creds.get(c.credential)
    if secret is None:
        raise NotConfigured(
            f"the connection {c.name!r} has no stored credentials: run `pie connect {c.vendor} "
            f"--name {c.name}` again"
        )
    current = dict(secret)

    async def save(new: Mapping[str, Secret]) -> None:
        current.update(new)
        await creds.put(c.credential, current)

    return ConnectionConfig(c.name, c.vendor, c.base_url, c.auth, dict(c.settings), current, save)


class CountingSource:
    """A Source that counts the records of each stream as they pass (for progress and the
    report). ``name`` (default: the inner source's) is the source the records' ids and cursors
    are kept under: a sync uses the connection's name, so two connections of one vendor (two
    Salesforce orgs) keep their cursors apart, and the default connection, named after its
    vendor, shares its ids with that vendor's CSV imports."""

    def __init__(
        self, inner: Source, progress: StreamProgress | None = None, *, name: str | None = None
    ) -> None:
        self.inner, self.progress = inner, progress
        self.name, self.label = name or inner.name, inner.label
        self.streams, self.resumable = inner.streams, inner.resumable
        self.read: dict[str, int] = {}

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        current: str | None = None
        async for raw in self.inner.records(since):
            if raw.stream != current:
                self._tell(current)
                current = raw.stream
            n = self.read[raw.stream] = self.read.get(raw.stream, 0) + 1
            if self.progress is not None and n % PROGRESS_EVERY == 0:
                self.progress(raw.stream, n)
            yield raw
        self._tell(current)

    def _tell(self, stream: str | None) -> None:
        if stream is not None and self.progress is not None:
            self.progress(stream, self.read.get(stream, 0))


async def run_sync(
    deps: SyncDeps,
    tenant_id: UUID,
    connection_id: UUID,
    *,
    full: bool = False,
    job_id: str | None = None,
    progress: StreamProgress | None = None,
) -> SyncResult:
    """One sync of the connection (the job function). Bad records are reported and the rest
    land; a stop (quota, auth, the API down) keeps what was committed, is recorded on the
    connection and raised (a TransientError makes the queue retry the job)."""
    store = deps.connections(tenant_id)
    c = await store.get(connection_id)
    if c is None:
        raise NotFound(f"connection {connection_id}")
    async with deps.lock.hold(c.id):
        started = deps.now()
        counting: CountingSource | None = None
        config: ConnectionConfig | None = None
        try:
            conn = registry.connector(c.vendor)
            config = await config_of(deps, c)
            # a token refreshed mid-sync is saved once the sync's transaction is over
            saves = DeferredSaves(config.save_credentials)
            config = dataclasses.replace(config, save_credentials=saves)

            def uow(saves: DeferredSaves = saves) -> UnitOfWork:
                return saves.around(deps.uow(tenant_id))

            source = conn.source(config, full=full)
            counting = CountingSource(source, progress, name=c.name)
            try:
                # the connector's own steps around the pipeline, when it has them: before
                # (e.g. load its list of records to read again), after (a vendor's delete
                # reconciliation, saving that list)
                before = getattr(conn, "before_sync", None)
                if before is not None:
                    await before(uow(), counting)
                report = await import_source(
                    uow(),
                    counting,
                    conn.make_mapper,
                    vendor=c.vendor,
                    skip_bad_rows=True,
                    now=started,
                    show_rejected=MAX_FAILED_LISTED,
                    after=deps.after_import(tenant_id) if deps.after_import else None,
                    chunk_size=getattr(conn, "chunk_size", DEFAULT_CHUNK_SIZE),
                )
                after = getattr(conn, "after_sync", None)
                if after is not None:
                    await after(uow(), counting, report)
            finally:
                try:
                    await _close(source)
                finally:
                    await saves.flush()
        except PieError as err:
            if config is not None:
                scrub(err, config.credentials)
            result = _failed(c, full, started, deps.now(), counting, err)
            await _record(store, c, result, job_id, FAILED)
            raise
        result = _succeeded(c, full, started, deps.now(), counting.read, report)
        await _record(store, c, result, job_id, ACTIVE)
        return result


async def _close(source: object) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()


async def _record(
    store: ConnectionStore, c: Connection, result: SyncResult, job_id: str | None, state: str
) -> None:
    latest = await store.get(c.id) or c  # keep what changed meanwhile (a new schedule)
    await store.save(
        dataclasses.replace(
            latest,
            state=state,
            last_sync_at=result.finished_at,
            last_result=result.model_dump(mode="json"),
            last_job_id=job_id or latest.last_job_id,
            updated_at=result.finished_at,
        )
    )


def _succeeded(
    c: Connection,
    full: bool,
    started: datetime,
    finished: datetime,
    read: Mapping[str, int],
    report: ImportReport,
) -> SyncResult:
    counts = {
        kind.value: KindCount(**report.count(kind).to_dict(), deleted=report.deleted.get(kind, 0))
        for kind in KIND_ORDER
        if kind in report.counts or report.deleted.get(kind)
    }
    failed = [
        FailedRecord(record_id=r.record_id, record=r.record, field=r.field, reason=r.problem)
        for r in report.rejected
    ]
    return SyncResult(
        connection=c.name,
        vendor=c.vendor,
        full=full,
        status="succeeded",
        started_at=started,
        finished_at=finished,
        streams={s: StreamCount(read=n) for s, n in read.items()},
        counts=counts,
        records_synced=report.created + report.updated + report.unchanged,
        records_deleted=sum(report.deleted.values()),
        failed=failed,
        failed_total=report.rejected_total,
        kept=len(report.kept),
        cursors=dict(report.cursors),
        conversations=report.conversations.to_dict() if report.conversations else None,
    )


def _failed(
    c: Connection,
    full: bool,
    started: datetime,
    finished: datetime,
    counting: CountingSource | None,
    err: PieError,
) -> SyncResult:
    read = counting.read if counting is not None else {}
    return SyncResult(
        connection=c.name,
        vendor=c.vendor,
        full=full,
        status="failed",
        started_at=started,
        finished_at=finished,
        streams={s: StreamCount(read=n) for s, n in read.items()},
        error=str(err),
    )


# --- jobs, status, schedules ------------------------------------------------------------


async def start_sync(
    deps: SyncDeps, queue: JobQueue, tenant_id: UUID, connection_id: UUID, *, full: bool
) -> str:
    """Queue a sync of the connection; the job's id (the one already waiting, if any)."""
    store = deps.connections(tenant_id)
    c = await store.get(connection_id)
    if c is None:
        raise NotFound(f"connection {connection_id}")
    job_id = await queue.enqueue_sync(tenant_id, c.id, full=full)
    latest = await store.get(c.id) or c
    await store.save(dataclasses.replace(latest, last_job_id=job_id))
    return job_id


async def connect_and_start(
    deps: SyncDeps,
    queue: JobQueue,
    tenant_id: UUID,
    vendor: str,
    values: Mapping[str, str | Secret],
    *,
    sync: bool = True,
    **options: Any,
) -> ConnectRead:
    """``connect``, then (``sync``) queue a first, full sync."""
    c, checked = await connect(deps, tenant_id, vendor, values, **options)
    job_id = await start_sync(deps, queue, tenant_id, c.id, full=True) if sync else None
    return ConnectRead(
        connection_id=c.id,
        status=c.state,
        sync_started=job_id is not None,
        job_id=job_id,
        checked=checked,
    )


async def status(
    deps: SyncDeps, queue: JobQueue | None, tenant_id: UUID, connection: Connection
) -> StatusRead:
    """The connection's last finished sync and its latest job as the queue has it."""
    c = await deps.connections(tenant_id).get(connection.id) or connection
    result = result_of(dict(c.last_result) if c.last_result else None)
    job = None
    if queue is not None and c.last_job_id:
        info = await queue.job(c.last_job_id)
        job = JobRead.of(info) if info is not None else None
    errors: list[str] = []
    if result is not None:
        if result.error:
            errors.append(result.error)
        errors += [
            f"{f.record_id or f.record}: {f.field + ': ' if f.field else ''}{f.reason}"
            for f in result.failed
        ]
    if job is not None and job.error and job.error not in errors:
        errors.append(job.error)
    return StatusRead(
        connection_id=c.id,
        name=c.name,
        state=c.state,
        records_synced=result.records_synced if result else 0,
        records_deleted=result.records_deleted if result else 0,
        last_sync=c.last_sync_at,
        errors=errors,
        job=job,
        last_result=result,
    )


async def run_due(schedule: SyncSchedule, queue: JobQueue, now: datetime) -> list[str]:
    """Queue a sync of every connection whose scheduled time has come (the scheduler's job);
    the job ids."""
    jobs = []
    for due in await schedule.claim_due(now):
        jobs.append(await queue.enqueue_sync(due.tenant_id, due.connection_id, full=False))
    return jobs
