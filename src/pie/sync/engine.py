"""The SyncEngine: the thin shell around the pure planner (pie.sync.planner) that does the
I/O. One engine serves one tenant's connection to one CRM.

A run (``run_once``):

1. **Inbound read.** Per record kind, ``changes_since(cursor - overlap)`` (inclusive, at least
   2 minutes of overlap), every page. A page the CRM reports incomplete keeps the cursor where
   it was. Every ``reconcile_every`` runs, the live records are listed as well (a full
   reconciliation), to find linked records trashed (confirmed with a read) or no longer
   visible (404: the link is detached, nothing is deleted), and records nobody linked that
   the incremental read cannot show (visible again with an old ``last_edited_time``: moved
   back into the database, reconnected). A record PIE changed, last seen inside a complete
   read's window and missing from it (trashed, unshared, or edited again and not yet shown
   by the CRM's queries) is read before PIE writes to it.
2. **Outbox read.** PIE's change feed since the outbox position: per record, the fields that
   changed, when and by whom. Changes whose origin is the CRM itself are the sync's own
   applies and never go back out (echo suppression).
3. **Plan and apply, one transaction:** for every record touched on either side, the planner
   compares PIE's values and the CRM's with the last agreed values; the CRM's winning values
   are written to PIE (through the repositories, origin = the CRM's name), agreed values
   become the base, conflicts are logged (once per divergence) — all in one commit.
4. **Push.** Coalesced per record (one write per record, whatever number of fields changed),
   through the connection's rate limiter, which counts every request the adapter sends
   (its gate: a create's PIE-id lookup, block lists, retries), not operations; each
   success sets the base of *the fields written* (never the others, whatever the write's
   response shows) in a short transaction. Creates
   carry the PIE id (a retried create finds the record instead of duplicating). Retries
   (tenacity): 429/529/5xx/timeouts/409, honouring Retry-After (decimals too), else
   exponential backoff with jitter; 400 puts the record in the error queue (its link's
   ``error``) until its data changes (either side); 401/403 pause the connection; 404
   detaches the link.
5. **Outbox position and cursors** advance past every change whose record was pushed or
   needed nothing; a record whose push failed transiently holds them back (the outbox for
   PIE's changes, the inbound cursor for writes the CRM's side called for), so it is
   re-planned next run. A run that stops early (a crash, a 401) moves neither.

**A second record for one PIE id.** Every create is preceded by a lookup by PIE id (in the
adapter), and PIE's change stays past the outbox position until the link is saved, so a
create whose answer was lost, or whose process died before the link was saved (F5), is
verified before it is sent again. The lookup can only see what Notion shows the
integration: a page a person moved out of the database or disconnected PIE's connection
from answers 404 and is in no query. If that happens to a page whose create PIE never
confirmed, PIE creates the record again (it cannot tell "hidden" from "never made"; a
"create in flight" marker would not help: it could only refuse to create, leaving a PIE
record unsynced because of a page that most likely never existed). When the first page is
visible again, ``_duplicate`` applies one rule, logged once (``pie sync log``, a
``_record`` row naming both pages): PIE keeps the link it has; the other page, if PIE's
integration made it and was its last editor, is trashed (soft, restorable in Notion; rule
``duplicate_by_sync_trashed``); anything a person made (a duplicated page) or edited is
kept as it is, never linked, for a person to review (``duplicate_kept_for_review``). Never a
second PIE record, never a second link.

Nothing here runs in a user's request: ``pie sync run`` (``--once`` or ``--every``) or a
background job drives it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol, TypeVar
from uuid import UUID

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from pie.domain.crm_fields import FIELDS, Ownership, RecordKind
from pie.domain.model import EntityKind
from pie.domain.ownership import OwnershipPolicy
from pie.ports.crm import (
    ActivityInput,
    CrmAdapter,
    CrmError,
    CrmRecord,
    CrmRejected,
)
from pie.ports.sync import (
    Conflict,
    ConnectionStatus,
    Link,
    LinkStatus,
    SyncState,
    Value,
)
from pie.ports.uow import UnitOfWork
from pie.sync.planner import (
    LOCAL,
    RECORD,
    REMOTE,
    Local,
    Plan,
    Remote,
    Rule,
    Timing,
    duplicate_rule,
    plan_record,
)
from pie.sync.store import StoreCrmAdapter

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KIND_OF_ENTITY = {EntityKind.DEAL: RecordKind.DEAL, EntityKind.CONTACT: RecordKind.CONTACT}
_NAMESPACE = uuid.UUID("5b1f2a62-4f0e-4c43-9f36-3c3f1f0e2a11")


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """``connection``: the CRM connection's name, also the origin of applied changes.
    ``requests_per_second``: the connection's budget (default below Notion's 3/s).
    ``overlap``: seconds the inbound read goes back before the cursor (>= 120).

    The ``*_broken`` / ``honour_*`` switches exist so the tests can prove they catch broken
    engines; never turn them in production."""

    connection: str = "notion"
    interval: float = 60.0
    requests_per_second: float = 2.5
    burst: int = 1
    overlap: float = 120.0
    page_size: int = 100
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    reconcile_every: int = 10
    margin: float = 60.0
    # test switches (broken variants)
    inclusive: bool = True
    refresh_all_from_write: bool = False
    echo_suppression: bool = True
    honour_retry_after: bool = True
    detach_on_404: bool = True
    agent_rule: bool = True
    count_operations: bool = False  # the limiter counts operations, not requests sent
    checkpoint_before_write: bool = False  # the base saved before the CRM confirmed a write
    pause_on_auth_error: bool = True  # 401/403 pause the connection

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")


@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    pulled: int = 0  # remote records read
    applied: int = 0  # records PIE took values from the CRM for
    pushed: int = 0  # records written to the CRM
    created_remote: int = 0
    created_local: int = 0
    trashed_remote: int = 0
    tombstoned: int = 0
    detached: int = 0
    conflicts: int = 0  # newly logged
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0  # 429/529 answers
    status: ConnectionStatus = ConnectionStatus.OK
    reconciled: bool = False  # this run listed every record (a full reconciliation)

    @property
    def idle(self) -> bool:
        return not (
            self.applied
            or self.pushed
            or self.created_local
            or self.created_remote
            or self.trashed_remote
            or self.tombstoned
        )


class RateLimiter:
    """A token bucket for one connection, on an injectable clock; ``pause_until`` holds every
    request after a 429/529 until Retry-After has passed."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        self._tokens = float(self.burst)
        self._stamp: datetime | None = None
        self.paused_until: datetime | None = None

    async def acquire(self) -> None:
        while True:
            now = self.clock.now()
            if self.paused_until is not None and now < self.paused_until:
                await self.clock.sleep((self.paused_until - now).total_seconds())
                continue
            if self._stamp is not None:
                elapsed = max(0.0, (now - self._stamp).total_seconds())
                self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            # at least a microsecond (a clock's resolution), or a tiny deficit never refills
            await self.clock.sleep(max(1e-6, (1.0 - self._tokens) / self.rate))

    def pause(self, seconds: float) -> None:
        until = self.clock.now() + timedelta(seconds=max(0.0, seconds))
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until


@dataclass
class _Touched:
    """One record's part of the change feed window."""

    first_seq: int
    changed_at: dict[str, datetime] = field(default_factory=dict)
    changed_by: dict[str, str] = field(default_factory=dict)
    deleted_by: str | None = None


@dataclass
class _Outbound:
    """What a pass writes to the CRM, each with the first feed seq it answers for."""

    pushes: list[tuple[Link, dict[str, Value], int]] = field(default_factory=list)
    creates: list[tuple[RecordKind, UUID, dict[str, Value], int]] = field(default_factory=list)
    trashes: list[tuple[Link, int]] = field(default_factory=list)
    #: second records carrying a linked PIE id that the duplicate rule trashes
    duplicates: list[CrmRecord] = field(default_factory=list)


@dataclass
class _Feed:
    records: dict[tuple[RecordKind, UUID], _Touched]
    activities: list[tuple[UUID, int]]  # created activities and their seq
    last_seq: int
    echoes: dict[tuple[RecordKind, UUID], set[str]]  # a broken variant's: its own applies


class SyncEngine:
    """``uow``: makes a fresh unit of work of the tenant; ``crm``: the connection's adapter;
    ``limiter``: share one per connection (token) between every engine using it."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        crm: CrmAdapter,
        *,
        config: SyncConfig = SyncConfig(),
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._uow, self.crm, self.config = uow, crm, config
        self.clock: Clock = clock or SystemClock()
        self.limiter = limiter or RateLimiter(config.requests_per_second, config.burst, self.clock)
        self._rng = rng or random.Random()
        self._runs = 0
        self._report: RunReport | None = None
        self._skew = 0.0
        self._bases: dict[tuple[RecordKind, UUID], dict[str, Value]] = {}
        #: per kind, the lower bound of this pass's inbound read, when it read every page
        self._windows: dict[RecordKind, datetime] = {}
        # every request the adapter sends waits for the limiter (lookups, retries, appends)
        crm.use_gate(None if config.count_operations else self._gate)

    # --- running ---------------------------------------------------------------------------

    async def run_forever(self, every: float | None = None, *, runs: int | None = None) -> None:
        """Run every ``every`` seconds (the config's interval by default); ``runs`` bounds it."""
        done = 0
        while runs is None or done < runs:
            started = self.clock.now()
            await self.run_once()
            done += 1
            spent = (self.clock.now() - started).total_seconds()
            await self.clock.sleep(max(0.0, (every or self.config.interval) - spent))

    async def run_once(self, *, reconcile: bool | None = None) -> RunReport:
        cfg = self.config
        report = RunReport(run_id=uuid.uuid4().hex[:16], started_at=self.clock.now())
        self._report = report
        self._runs += 1
        async with self._uow() as uow:
            state = await uow.sync.state(cfg.connection)
            policy = await uow.policy.get()
        runs = int(state.counters.get("runs", 0))  # a full reconciliation every N runs
        do_reconcile = reconcile if reconcile is not None else runs % cfg.reconcile_every == 0
        self._skew = float(state.counters.get("skew", self._skew))
        if state.status is ConnectionStatus.PAUSED:
            report.status = ConnectionStatus.PAUSED
            report.errors.append(f"paused: {state.reason}")
            return self._finish(report)
        try:
            remote, cursors = await self._read_inbound(state)
            if do_reconcile:
                await self._reconcile(remote)
                report.reconciled = True
            out, feed = await self._plan_and_apply(state, cursors, remote, policy)
            held: dict[str, datetime] = {}
            failed_seqs = await self._push(out, remote, held)
            failed_seqs += await self._push_activities(feed.activities)
            await self._advance_outbox(feed.last_seq, failed_seqs, report, cursors, held)
        except CrmRejected as err:
            if err.pauses_connection and cfg.pause_on_auth_error:
                await self._pause(str(err))
                report.status = ConnectionStatus.PAUSED
            report.errors.append(str(err))
        except CrmError as err:  # gave up retrying: the next run starts over from the cursors
            report.status = ConnectionStatus.THROTTLED
            report.errors.append(str(err))
        return self._finish(report)

    def _finish(self, report: RunReport) -> RunReport:
        report.finished_at = self.clock.now()
        self._report = None  # requests sent outside a run count in no run's report
        return report

    # --- inbound ---------------------------------------------------------------------------

    async def _read_inbound(
        self, state: SyncState
    ) -> tuple[dict[tuple[RecordKind, str], CrmRecord], dict[str, str]]:
        cfg = self.config
        remote: dict[tuple[RecordKind, str], CrmRecord] = {}
        cursors = dict(state.cursors)
        self._windows = {}
        for kind in RecordKind:
            cursor = _parse(state.cursors.get(kind.value))
            if cursor is None:
                since = EPOCH
            elif cfg.inclusive:
                since = cursor - timedelta(seconds=cfg.overlap)
            else:  # a broken variant: strictly after the cursor
                since = cursor - timedelta(seconds=cfg.overlap) + timedelta(microseconds=1)
            page_cursor: str | None = None
            complete = True
            newest = cursor
            while True:
                page = await self._call(
                    partial(
                        self.crm.changes_since,
                        kind,
                        since,
                        cursor=page_cursor,
                        page_size=cfg.page_size,
                    )
                )
                complete = complete and page.complete
                for record in page.records:
                    remote[(kind, record.external_id)] = record
                    if newest is None or record.last_edited_time > newest:
                        newest = record.last_edited_time
                page_cursor = page.next_cursor
                if page_cursor is None or not page.complete:
                    break
            if complete and newest is not None:
                cursors[kind.value] = newest.isoformat()
            if complete:
                self._windows[kind] = since
        if self._report is not None:
            self._report.pulled += len(remote)
        return remote, cursors

    async def _reconcile(self, remote: dict[tuple[RecordKind, str], CrmRecord]) -> None:
        """Find linked records the CRM no longer lists: trashed (confirmed by a read) or not
        visible (404: detach); and live records the incremental read cannot show, visible
        again (moved back into the database, reconnected) with a ``last_edited_time`` older
        than its window: not linked (never, or no longer: detached, trashed), or linked and
        edited since PIE last saw them (an edit made before or while hidden). These join
        this pass's records: a detached page is linked again, a page nobody linked is
        imported, one carrying a PIE id linked to another page goes to the duplicate rule
        (``_duplicate``), and a linked one is merged like any changed record."""
        cfg = self.config
        for kind in RecordKind:
            live: dict[str, CrmRecord] = {}
            page_cursor: str | None = None
            while True:
                page = await self._call(
                    partial(
                        self.crm.list_records, kind, cursor=page_cursor, page_size=cfg.page_size
                    )
                )
                live.update((r.external_id, r) for r in page.records)
                page_cursor = page.next_cursor
                if page_cursor is None:
                    break
            async with self._uow() as uow:
                links = await uow.sync.links(cfg.connection, kind)
            seen = {
                link.external_id: (link.remote_edited_time, link.remote_edited_by)
                for link in links
                if link.status is LinkStatus.LINKED
            }
            for ext, record in live.items():
                if seen.get(ext) != (record.last_edited_time, record.last_edited_by):
                    remote.setdefault((kind, ext), record)
            for link in links:
                if link.status is not LinkStatus.LINKED or link.external_id in live:
                    continue
                got = await self._call(partial(self.crm.get_record, kind, link.external_id))
                if got is not None:
                    remote[(kind, link.external_id)] = got
                elif cfg.detach_on_404:
                    await self._detach(link)
                else:  # a broken variant: treats "not visible" as deleted
                    async with self._uow() as uow:
                        repo = uow.deals if kind is RecordKind.DEAL else uow.contacts
                        await repo.delete(link.pie_id, origin=cfg.connection)
                        await uow.commit()

    async def _detach(self, link: Link) -> None:
        async with self._uow() as uow:
            await uow.sync.save_link(
                self.config.connection, replace(link, status=LinkStatus.DETACHED)
            )
            await uow.commit()
        if self._report is not None:
            self._report.detached += 1

    # --- plan and apply --------------------------------------------------------------------

    async def _plan_and_apply(
        self,
        state: SyncState,
        cursors: dict[str, str],
        remote: dict[tuple[RecordKind, str], CrmRecord],
        policy: OwnershipPolicy,
    ) -> tuple[_Outbound, _Feed]:
        cfg = self.config
        report = self._report
        assert report is not None
        out = _Outbound()
        timing = Timing(
            precision=self.crm.capabilities.time_precision,
            skew=float(state.counters.get("skew", 0.0)),
            margin=cfg.margin,
        )
        async with self._uow() as uow:
            store = StoreCrmAdapter(uow, origin=cfg.connection, clock=self.clock.now)
            feed = await self._read_feed(uow, state.outbox_seq)
            touched = feed.records
            conflicts: list[Conflict] = []
            seen: set[tuple[RecordKind, UUID]] = set()
            # the links and last agreed values of every record in play, read at once
            by_ext: dict[tuple[RecordKind, str], Link] = {}
            by_pie: dict[tuple[RecordKind, UUID], Link] = {}
            for kind in RecordKind:
                for known in await uow.sync.links(cfg.connection, kind):
                    by_ext[(kind, known.external_id)] = known
                    by_pie[(kind, known.pie_id)] = known
            self._bases = {}
            for kind in RecordKind:
                ids = [by_ext[key].pie_id for key in remote if key[0] is kind and key in by_ext]
                ids += [pie_id for k, pie_id in touched if k is kind]
                for pie_id, values in (await uow.sync.bases(cfg.connection, kind, ids)).items():
                    self._bases[(kind, pie_id)] = values
            # records the CRM changed
            for (kind, ext), record in sorted(remote.items(), key=lambda kv: kv[0][1]):
                link = by_ext.get((kind, ext))
                fields = _fields(policy, kind, cfg.connection, cfg.agent_rule)
                if link is None:
                    if record.in_trash:
                        continue
                    pie_id = record.pie_id or uuid.uuid5(_NAMESPACE, f"{cfg.connection}:{ext}")
                    other = by_pie.get((kind, pie_id))
                    if other is not None and other.external_id != ext:
                        # a second record for a linked PIE id: never a second PIE record or
                        # link; one rule, one log row (see _duplicate)
                        conflicts.append(self._duplicate(other, record, out))
                        continue
                    values = {k: v for k, v in record.fields.items() if k in fields}
                    made_local = await store.create_record(kind, pie_id, values)
                    made = Link(
                        kind,
                        pie_id,
                        ext,
                        LinkStatus.LINKED,
                        record.last_edited_time,
                        record.last_edited_by,
                    )
                    await uow.sync.save_link(cfg.connection, made)
                    by_pie[(kind, pie_id)] = by_ext[(kind, ext)] = made
                    if made_local.created:
                        await uow.sync.save_base(cfg.connection, kind, pie_id, values)
                        report.created_local += 1
                        seen.add((kind, pie_id))
                        continue
                    # PIE made this record and the CRM's answer to the create was lost: agree
                    # only on what is provably agreed, then merge it like any linked record
                    base = self._adopted_base(record, made_local.record.fields, fields)
                    await uow.sync.save_base(cfg.connection, kind, pie_id, base)
                    self._bases[(kind, pie_id)] = base
                    link = made
                if link.status is LinkStatus.TRASHED and not record.in_trash:
                    link = replace(link, status=LinkStatus.LINKED)  # restored in the CRM
                    conflicts.append(
                        _record_row(link, "trashed", "restored", Rule.REMOTE_TRASH, report)
                    )
                    await uow.sync.save_link(cfg.connection, link)
                if link.status is LinkStatus.DETACHED and not record.in_trash:
                    # visible again (moved back into the database, reconnected): synced
                    # again, merged with the last agreed values like any linked record
                    link = replace(link, status=LinkStatus.LINKED)
                    conflicts.append(
                        _record_row(link, "detached", "visible again", Rule.VISIBLE_AGAIN, report)
                    )
                    await uow.sync.save_link(cfg.connection, link)
                if link.status is not LinkStatus.LINKED:
                    continue
                seen.add((kind, link.pie_id))
                t = touched.get((kind, link.pie_id))
                plan = await self._plan(uow, store, kind, link, fields, record, t, timing)
                moved = (record.last_edited_time, record.last_edited_by) != (
                    link.remote_edited_time,
                    link.remote_edited_by,
                )
                if link.error is not None and not (t and t.changed_at) and not moved:
                    # in the error queue until its data changes, on either side (a page
                    # restored from the trash, say)
                    plan = replace(plan, push={})
                await self._apply(uow, store, link, plan, record, conflicts, report)
                if plan.push:
                    out.pushes.append((link, plan.push, t.first_seq if t else 0))
                if plan.trash_remote:
                    out.trashes.append((link, t.first_seq if t else 0))
            # records only PIE changed
            for (kind, pie_id), t in sorted(touched.items(), key=lambda kv: str(kv[0][1])):
                if (kind, pie_id) in seen:
                    continue
                fields = _fields(policy, kind, cfg.connection, cfg.agent_rule)
                link = by_pie.get((kind, pie_id))
                if link is None:
                    current = await store.get_record(kind, str(pie_id))
                    if current is not None:
                        values = {k: v for k, v in current.fields.items() if k in fields}
                        out.creates.append((kind, pie_id, values, t.first_seq))
                    continue
                if link.status is not LinkStatus.LINKED:
                    continue
                if link.error is not None and not t.changed_at and t.deleted_by is None:
                    continue  # in the error queue until its data changes
                seen_remote: CrmRecord | None = None
                agreed = self._bases.get((kind, pie_id), {})
                if (
                    t.deleted_by is not None
                    or any(name not in agreed for name in fields)
                    or self._missing(link)
                ):
                    # a delete, a record never fully agreed (an adopted create), or one the
                    # read should have shown and did not: read it before writing over it
                    seen_remote = await self._call(
                        partial(self.crm.get_record, kind, link.external_id)
                    )
                plan = await self._plan(uow, store, kind, link, fields, seen_remote, t, timing)
                await self._apply(uow, store, link, plan, seen_remote, conflicts, report)
                if plan.push:
                    out.pushes.append((link, plan.push, t.first_seq))
                if plan.trash_remote:
                    out.trashes.append((link, t.first_seq))
            for (kind, pie_id), names in feed.echoes.items():  # a broken variant only
                echo_link = await uow.sync.link(cfg.connection, kind, pie_id)
                current = await store.get_record(kind, str(pie_id))
                if echo_link is not None and current is not None:
                    values = {n: current.fields.get(n) for n in names if n in current.fields}
                    out.pushes.append((echo_link, values, feed.last_seq))
            report.conflicts += await uow.sync.log_conflicts(cfg.connection, conflicts)
            state = await uow.sync.state(cfg.connection)
            await uow.sync.save_state(
                cfg.connection,
                replace(
                    state,
                    status=ConnectionStatus.OK,
                    reason=None,
                    last_run_at=self.clock.now(),
                ),
            )
            await uow.commit()
        return out, feed

    async def _read_feed(self, uow: UnitOfWork, since: int) -> _Feed:
        cfg = self.config
        touched: dict[tuple[RecordKind, UUID], _Touched] = {}
        activities: list[tuple[UUID, int]] = []
        echoes: dict[tuple[RecordKind, UUID], set[str]] = {}
        last = since
        while True:
            batch = await uow.changes.list(since=last, limit=1000)
            if not batch:
                break
            for change in batch:
                last = change.seq
                if change.entity is EntityKind.ACTIVITY and change.op == "create":
                    activities.append((change.entity_id, change.seq))
                    continue
                kind = _KIND_OF_ENTITY.get(change.entity)
                if kind is None:
                    continue
                if change.origin == cfg.connection:
                    if cfg.echo_suppression:
                        continue  # the sync's own applies never go back out
                    echoes.setdefault((kind, change.entity_id), set()).update(change.fields)
                    continue
                t = touched.setdefault((kind, change.entity_id), _Touched(change.seq))
                if change.op == "delete":
                    t.deleted_by = change.origin
                    continue
                t.deleted_by = None
                for name in change.fields:
                    t.changed_at[name] = change.at
                    t.changed_by[name] = change.origin
        return _Feed(touched, activities, last, echoes)

    async def _plan(
        self,
        uow: UnitOfWork,
        store: StoreCrmAdapter,
        kind: RecordKind,
        link: Link,
        fields: Mapping[str, Ownership],
        record: CrmRecord | None,
        t: _Touched | None,
        timing: Timing,
    ) -> Plan:
        current = await store.values(kind, link.pie_id)
        base = self._bases.get((kind, link.pie_id), {})
        local = Local(
            values=current,
            changed_at=t.changed_at if t else {},
            changed_by=t.changed_by if t else {},
            deleted_by=(t.deleted_by if t else None) or ("pie" if current is None else None),
        )
        remote = (
            None
            if record is None
            else Remote(
                record.fields,
                record.last_edited_time,
                record.last_edited_by,
                record.in_trash,
                unseen_edit=self._unseen_edit(link, record),
            )
        )
        return plan_record(
            kind=kind,
            pie_id=link.pie_id,
            fields=fields,
            base=base,
            local=local,
            remote=remote,
            timing=timing,
        )

    def _adopted_base(
        self, record: CrmRecord, mine: Mapping[str, Value], fields: Iterable[str]
    ) -> dict[str, Value]:
        """The base of a record PIE created whose create answer was lost (found again by its
        PIE id): what the CRM has, if PIE was its last editor (it holds what PIE wrote);
        else only the fields where the CRM and PIE agree, so that a person's edit since the
        create is merged (a conflict decided and logged), never overwritten as if agreed."""
        theirs = {k: v for k, v in record.fields.items() if k in fields}
        if record.last_edited_by == self.crm.capabilities.self_actor:
            return theirs
        return {k: v for k, v in theirs.items() if k in mine and mine[k] == v}

    def _missing(self, link: Link) -> bool:
        """PIE last saw the record inside this pass's complete inbound read window, yet the
        read did not list it. Its ``last_edited_time`` only moves forward, so something
        happened to it that PIE has not seen: trashed, no longer shared, or edited again and
        not shown by the CRM's queries yet (an index catching up). A person's earlier edit
        may be on it: PIE reads it (one request, only in this case) before writing over it."""
        since = self._windows.get(link.kind)
        seen = link.remote_edited_time
        return since is not None and seen is not None and seen >= since

    def _unseen_edit(self, link: Link, record: CrmRecord) -> bool:
        """Someone other than PIE edited the record since PIE last read or wrote it."""
        if record.last_edited_by == self.crm.capabilities.self_actor:
            return False
        seen = (link.remote_edited_time, link.remote_edited_by)
        return seen != (record.last_edited_time, record.last_edited_by)

    async def _apply(
        self,
        uow: UnitOfWork,
        store: StoreCrmAdapter,
        link: Link,
        plan: Plan,
        record: CrmRecord | None,
        conflicts: list[Conflict],
        report: RunReport,
    ) -> None:
        cfg = self.config
        kind = link.kind
        if plan.apply:
            await store.update_record(kind, str(link.pie_id), plan.apply)
            report.applied += 1
        if plan.recreate_local and record is not None:
            await store.create_record(kind, link.pie_id, dict(record.fields))
            await uow.sync.save_base(cfg.connection, kind, link.pie_id, dict(record.fields))
            report.created_local += 1
        if plan.agree:
            await uow.sync.save_base(cfg.connection, kind, link.pie_id, plan.agree)
        for c in plan.conflicts:
            conflicts.append(
                Conflict(
                    kind=kind,
                    pie_id=link.pie_id,
                    external_id=link.external_id,
                    field=c.field,
                    base=c.base,
                    local=c.local,
                    remote=c.remote,
                    winner=c.winner,
                    rule=c.rule.value,
                    run_id=report.run_id,
                    local_time=c.local_time,
                    remote_time=c.remote_time,
                    skew_seconds=None,
                )
            )
        new_link = link
        if record is not None:
            new_link = replace(
                new_link,
                remote_edited_time=record.last_edited_time,
                remote_edited_by=record.last_edited_by,
            )
        if plan.tombstone:
            new_link = replace(new_link, status=LinkStatus.TRASHED)
            report.tombstoned += 1
        if new_link != link:
            await uow.sync.save_link(cfg.connection, new_link)

    # --- push ------------------------------------------------------------------------------

    async def _push(
        self,
        out: _Outbound,
        remote: Mapping[tuple[RecordKind, str], CrmRecord],
        held: dict[str, datetime],
    ) -> list[int]:
        """Write to the CRM; the first feed seq of every record that failed transiently.
        A failed write the CRM's side called for (an agent-owned field restored, a merge)
        holds the inbound cursor of its kind at that record's edit time in ``held``, so the
        next run reads it again and re-plans it (the outbox holds PIE's side)."""
        cfg = self.config
        report = self._report
        assert report is not None
        failed: list[int] = []
        for kind, pie_id, values, seq in out.creates:
            try:
                result = await self._call(partial(self.crm.create_record, kind, pie_id, values))
            except CrmRejected as err:
                if err.pauses_connection and cfg.pause_on_auth_error:
                    raise
                report.errors.append(f"{kind.value} {pie_id}: {err}")
                continue
            except CrmError:
                failed.append(seq)
                continue
            async with self._uow() as uow:
                base = (
                    values
                    if result.created  # it existed (a retried create): see _adopted_base
                    else self._adopted_base(result.record, values, values)
                )
                await uow.sync.save_link(
                    cfg.connection,
                    Link(
                        kind,
                        pie_id,
                        result.external_id,
                        LinkStatus.LINKED,
                        result.last_edited_time,
                        result.last_edited_by,
                    ),
                )
                await uow.sync.save_base(cfg.connection, kind, pie_id, base)
                self._measure_skew(result.last_edited_time)
                await uow.commit()
            report.created_remote += 1
        for link, values, seq in out.pushes:
            if cfg.checkpoint_before_write:  # a broken variant: agreed before it is written
                async with self._uow() as uow:
                    await uow.sync.save_base(cfg.connection, link.kind, link.pie_id, values)
                    await uow.commit()
            try:
                result = await self._call(
                    partial(self.crm.update_record, link.kind, link.external_id, values)
                )
            except CrmRejected as err:
                if err.pauses_connection and cfg.pause_on_auth_error:
                    raise
                if err.status == 404:
                    await self._detach(link)
                    continue
                await self._set_error(link, err.message)
                report.errors.append(f"{link.kind.value} {link.pie_id}: {err}")
                continue
            except CrmError:
                failed.append(seq)
                seen = remote.get((link.kind, link.external_id))
                if seen is not None:
                    at = held.get(link.kind.value)
                    held[link.kind.value] = min(at or seen.last_edited_time, seen.last_edited_time)
                continue
            written = dict(result.record.fields) if cfg.refresh_all_from_write else dict(values)
            if not cfg.echo_suppression:
                written = {}  # a broken variant: forgets what it wrote
            async with self._uow() as uow:
                await uow.sync.save_base(cfg.connection, link.kind, link.pie_id, written)
                await uow.sync.save_link(
                    cfg.connection,
                    replace(
                        link,
                        error=None,
                        remote_edited_time=result.last_edited_time,
                        remote_edited_by=result.last_edited_by,
                    ),
                )
                await uow.commit()
            self._measure_skew(result.last_edited_time)
            report.pushed += 1
        for link, seq in out.trashes:
            try:
                await self._call(partial(self.crm.set_trash, link.kind, link.external_id, True))
            except CrmRejected as err:
                if err.pauses_connection and cfg.pause_on_auth_error:
                    raise
                if err.status == 404:
                    await self._detach(link)
                    continue
                report.errors.append(f"{link.kind.value} {link.pie_id}: {err}")
                continue
            except CrmError:
                failed.append(seq)
                continue
            async with self._uow() as uow:
                await uow.sync.save_link(cfg.connection, replace(link, status=LinkStatus.DELETED))
                await uow.commit()
            report.trashed_remote += 1
        for record in out.duplicates:
            try:
                await self._call(partial(self.crm.set_trash, record.kind, record.external_id, True))
            except CrmRejected as err:
                if err.pauses_connection and cfg.pause_on_auth_error:
                    raise
                if err.status != 404:  # hidden again: decided again when next seen
                    report.errors.append(f"{record.kind.value} {record.external_id}: {err}")
                continue
            except CrmError:  # decided again when next seen (the inbound read held for it)
                at = held.get(record.kind.value)
                at = record.last_edited_time if at is None else min(at, record.last_edited_time)
                held[record.kind.value] = at
                continue
            report.trashed_remote += 1
        return failed

    def _duplicate(self, linked: Link, record: CrmRecord, out: _Outbound) -> Conflict:
        """A CRM record carrying the PIE id of a record linked to another one. How it comes
        about: PIE's create was applied but PIE never read the answer (its process died, F5),
        and before PIE found the record again by its PIE id, a person moved it out of the
        database or disconnected PIE's connection from it. Notion gives an integration no way
        to find a page it cannot see, so the next create's lookup found nothing and PIE
        created the record again. When the first one is visible again (moved back,
        reconnected), PIE keeps the link it has (the record it synced since) and applies
        ``duplicate_rule``: its own untouched copy is trashed (softly, never deleted);
        anything a person made or edited is kept, not linked, for review. Logged once per
        decision (the row names both records); never a second PIE record or link."""
        rule = duplicate_rule(
            record.created_by, record.last_edited_by, self.crm.capabilities.self_actor
        )
        trash = rule is Rule.DUPLICATE_TRASHED
        if trash:
            out.duplicates.append(record)
        report = self._report
        assert report is not None
        return Conflict(
            kind=record.kind,
            pie_id=linked.pie_id,
            external_id=record.external_id,
            field=RECORD,
            base=f"linked to {linked.external_id}",
            local=f"linked to {linked.external_id}",
            remote=f"duplicate {record.external_id}: {'trashed' if trash else 'kept'}",
            winner=LOCAL if trash else REMOTE,
            rule=rule.value,
            run_id=report.run_id,
            remote_time=record.last_edited_time,
        )

    async def _push_activities(self, activities: Sequence[tuple[UUID, int]]) -> list[int]:
        """Activities created in PIE since the outbox position, appended to their linked deal
        once per activity id."""
        cfg = self.config
        failed: list[int] = []
        for activity_id, seq in activities:
            async with self._uow() as uow:
                activity = await uow.activities.get(activity_id)
                link = (
                    await uow.sync.link(cfg.connection, RecordKind.DEAL, activity.deal_id)
                    if activity is not None and activity.deal_id is not None
                    else None
                )
            if activity is None or link is None or link.status is not LinkStatus.LINKED:
                continue
            item = ActivityInput(
                activity.id,
                activity.type.value,
                activity.occurred_at,
                activity.subject,
                activity.summary,
            )
            try:
                await self._call(partial(self.crm.create_activity, link.external_id, item))
            except CrmRejected as err:
                if err.pauses_connection and cfg.pause_on_auth_error:
                    raise
            except CrmError:
                failed.append(seq)
        return failed

    async def _set_error(self, link: Link, message: str) -> None:
        """Put the record in the error queue; the link as stored now (the plan may have
        recorded the CRM's latest edit on it since ``link`` was read) keeps all but ``error``."""
        cfg = self.config
        async with self._uow() as uow:
            current = await uow.sync.link(cfg.connection, link.kind, link.pie_id) or link
            await uow.sync.save_link(cfg.connection, replace(current, error=message))
            await uow.commit()

    async def _advance_outbox(
        self,
        last_seq: int,
        failed: list[int],
        report: RunReport,
        cursors: Mapping[str, str],
        held: Mapping[str, datetime],
    ) -> None:
        """After the pushes: the outbox position past every record done, and the inbound
        cursors past what was read, except where a write the CRM's side called for failed
        (``held``). A run that stops before this (a crash, a 401, retries given up) leaves
        both where they were: the next run reads and re-plans the same window, and what was
        already applied and agreed plans to nothing."""
        position = min([last_seq, *(s - 1 for s in failed)])
        async with self._uow() as uow:
            state = await uow.sync.state(self.config.connection)
            new_cursors = dict(cursors)
            for kind, at in held.items():
                old, new = _parse(state.cursors.get(kind)), _parse(new_cursors.get(kind))
                if new is not None:
                    keep = min(new, at) if old is None else max(old, min(new, at))
                    new_cursors[kind] = keep.isoformat()
            counters = dict(state.counters)
            counters["skew"] = self._skew
            counters["runs"] = int(counters.get("runs", 0)) + 1
            counters["last_run"] = {
                "run_id": report.run_id,
                "pushed": report.pushed,
                "applied": report.applied,
                "conflicts": report.conflicts,
                "requests": report.requests,
                "throttled": report.throttled,
                "errors": report.errors[:20],
            }
            await uow.sync.save_state(
                self.config.connection,
                replace(
                    state,
                    outbox_seq=max(state.outbox_seq, position),
                    cursors=new_cursors,
                    status=ConnectionStatus.THROTTLED if report.throttled else state.status,
                    counters=counters,
                ),
            )
            await uow.commit()

    async def resume(self) -> None:
        """Lift a pause (after the token was renewed or access restored); the next run
        starts from the stored cursors and outbox position."""
        async with self._uow() as uow:
            state = await uow.sync.state(self.config.connection)
            if state.status is ConnectionStatus.PAUSED:
                await uow.sync.save_state(
                    self.config.connection,
                    replace(state, status=ConnectionStatus.OK, reason=None),
                )
                await uow.commit()

    async def _pause(self, reason: str) -> None:
        async with self._uow() as uow:
            state = await uow.sync.state(self.config.connection)
            await uow.sync.save_state(
                self.config.connection,
                replace(state, status=ConnectionStatus.PAUSED, reason=reason),
            )
            await uow.commit()

    # --- skew ------------------------------------------------------------------------------

    def _measure_skew(self, reported: datetime) -> None:
        """The CRM clock minus PIE's, from a write's reported time (floored to the CRM's
        precision: the middle of its interval is the estimate)."""
        precision = self.crm.capabilities.time_precision
        estimate = (reported - self.clock.now()).total_seconds() + precision / 2
        self._skew = estimate if self._skew == 0.0 else 0.8 * self._skew + 0.2 * estimate

    # --- requests --------------------------------------------------------------------------

    async def _gate(self) -> None:
        """Before every request the adapter sends: the connection's budget, and the count."""
        await self.limiter.acquire()
        if self._report is not None:
            self._report.requests += 1

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One CRM operation (one or more requests, each through the limiter via the
        adapter's gate), retried on retryable errors."""
        cfg = self.config
        report = self._report

        def wait(state: RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            after: float | None = getattr(err, "retry_after", None)
            if after is not None and cfg.honour_retry_after:
                return 0.0  # the limiter's pause holds the next request
            exp = float(min(cfg.backoff_max, cfg.backoff_base * 2 ** (state.attempt_number - 1)))
            return exp / 2 + self._rng.uniform(0, exp / 2)  # exponential with jitter

        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, CrmError) and e.retryable),
            sleep=self.clock.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if cfg.count_operations:  # a broken variant: one token per operation
                    await self._gate()
                try:
                    return await make()
                except CrmError as err:
                    after = getattr(err, "retry_after", None)
                    if err.status in (429, 529) or after is not None:
                        if report is not None:
                            report.throttled += 1
                        if cfg.honour_retry_after:
                            jitter = self._rng.uniform(0, 0.25)
                            self.limiter.pause((after if after is not None else 1.0) + jitter)
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _fields(
    policy: OwnershipPolicy, kind: RecordKind, crm: str, agent_rule: bool
) -> dict[str, Ownership]:
    out: dict[str, Ownership] = {}
    for spec in FIELDS[kind]:
        owner = policy.sync_ownership(kind.value, spec.name, crm) or spec.ownership
        if not agent_rule and owner is Ownership.AGENT:
            owner = Ownership.SHARED  # a broken variant: agent-owned treated as shared
        out[spec.name] = owner
    return out


def _record_row(link: Link, was: str, now: str, rule: Rule, report: RunReport) -> Conflict:
    return Conflict(
        kind=link.kind,
        pie_id=link.pie_id,
        external_id=link.external_id,
        field=RECORD,
        base=was,
        local=was,
        remote=now,
        winner="crm",
        rule=rule.value,
        run_id=report.run_id,
    )


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


__all__ = [
    "Clock",
    "RateLimiter",
    "RunReport",
    "SyncConfig",
    "SyncEngine",
    "SystemClock",
]
