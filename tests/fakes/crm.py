"""An in-memory CRM implementing ``pie.ports.crm.CrmAdapter``, with a virtual clock,
minute-floored timestamps (like Notion), a skewable CRM clock, a request log, an optional
request budget answered with 429 + Retry-After, and injectable faults.

    clock = VirtualClock()
    crm = FakeCrm(clock)
    crm.inject(Fault(FaultKind.LOST_RESPONSE, ops={"create"}))   # next create: applied, lost
    crm.human_edit(RecordKind.DEAL, page_id, {"stage": "proposal"})  # a person edits in the CRM
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from pie.domain.crm_fields import field_names
from pie.ports.crm import (
    ActivityInput,
    ActivityResult,
    CrmAdapter,
    CrmCapabilities,
    CrmConflict,
    CrmRateLimited,
    CrmRecord,
    CrmRejected,
    CrmTimeout,
    CrmUnavailable,
    Fields,
    FieldValue,
    Page,
    RecordKind,
    WriteResult,
)

R = TypeVar("R")
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SELF_ACTOR = "bot:pie"
HUMAN_ACTOR = "user:alice"


class VirtualClock:
    """PIE's clock in tests: it moves only when told (``advance``, or ``sleep``)."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start
        self.slept = 0.0

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a virtual clock moves forward; use set() to jump back")
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            self.advance(seconds)


def floor_minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


class FaultKind(StrEnum):
    RATE_LIMITED = "429"
    OVERLOADED = "529"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    TIMEOUT = "timeout"  # nothing applied, no answer
    LOST_RESPONSE = "lost_response"  # applied, then no answer
    REFUSED = "refused"  # never reached the CRM
    CONFLICT = "409"
    VALIDATION = "400"
    UNAUTHORIZED = "401"  # and every request after it, until renew_token()
    FORBIDDEN = "403"  # likewise (access to the databases withdrawn)
    CRASH_BEFORE = "crash_before"  # PIE's process dies just before sending (nothing sent)
    CRASH_AFTER = "crash_after"  # the request is applied, PIE dies before reading the answer


class EngineCrash(BaseException):
    """PIE's process died (a crash fault): nothing after it in the run happens."""


#: The operations a fault can target (``Fault.ops``).
OPS = frozenset({"create", "update", "get", "find", "list", "query", "trash", "activity"})
WRITE_OPS = frozenset({"create", "update", "trash", "activity"})


@dataclass
class Fault:
    """Fail the next ``times`` requests whose operation is in ``ops`` (all when empty)."""

    kind: FaultKind
    ops: frozenset[str] = frozenset()
    times: int = 1
    retry_after: float | None = None  # 429 / 529

    def matches(self, op: str) -> bool:
        return not self.ops or op in self.ops


@dataclass
class _Row:
    kind: RecordKind
    external_id: str
    pie_id: UUID | None
    fields: dict[str, FieldValue]
    created_time: datetime
    edited_at: datetime  # exact CRM-clock time of the last edit (reported floored)
    last_edited_by: str
    in_trash: bool = False
    visible: bool = True  # False: unshared from the integration, or moved out of it (404)
    indexed_at: datetime = EPOCH  # PIE's clock: queries show the row from then on
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    at: datetime  # PIE's clock
    op: str
    kind: str  # what happened: "ok", a FaultKind value, "429-budget"
    record: str = ""  # a query's record kind


@dataclass
class _Activity:
    pie_id: UUID
    external_id: str


class FakeCrm(CrmAdapter):
    """``skew``: seconds the CRM's clock is ahead of PIE's (negative: behind).
    ``budget``: (requests, window seconds) answered with 429 beyond it; None: no limit."""

    def __init__(
        self,
        clock: VirtualClock,
        *,
        name: str = "fake",
        skew: float = 0.0,
        precision: float = 60.0,
        budget: tuple[int, float] | None = None,
        self_actor: str = SELF_ACTOR,
        query_lag: float = 0.0,
        dedupe_creates: bool = True,
    ) -> None:
        """``query_lag``: an edit shows in ``changes_since`` only up to that many seconds
        after it was made (each edit its own delay, like a search index catching up);
        ``dedupe_creates`` False makes a broken CRM adapter that creates without looking
        for the PIE id first (for the tests' broken variants)."""
        self.clock = clock
        self.query_lag = query_lag
        self.dedupe_creates = dedupe_creates
        self.skew = skew
        self.precision = precision
        self.budget = budget
        self._caps = CrmCapabilities(
            name=name,
            self_actor=self_actor,
            fields={k: field_names(k) for k in RecordKind},
            time_precision=precision,
            requests_per_second=2.5,
        )
        self.rows: dict[str, _Row] = {}
        self.activities: dict[str, list[_Activity]] = {}
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.retry_afters: dict[int, float] = {}  # request index -> Retry-After it answered
        #: run once each, just before the next update is applied (a person editing the page
        #: between PIE's read and PIE's write, F7)
        self.before_update: list[Callable[[CrmRecord, Fields], None]] = []
        #: PIE's writes as applied: (PIE's clock, external id, fields written)
        self.write_log: list[tuple[datetime, str, dict[str, FieldValue]]] = []
        #: request indexes of PIE's updates that changed nothing although every edit of the
        #: page was visible to PIE's last query before it (PIE could have known)
        self.noop_writes: list[int] = []
        #: pages whose last update was applied but its answer never reached PIE (lost, or
        #: PIE crashed): PIE may rightly send the same values again
        self.unanswered: set[str] = set()
        #: when PIE last received an answer to a query (what it could know of the CRM)
        self.last_read: dict[RecordKind, datetime] = {}
        #: per query PIE received an answer to: (clock, kind, the pages it could not show:
        #: trashed, unshared, or their last edit not shown by queries yet)
        self.query_hidden: list[tuple[datetime, RecordKind, frozenset[str]]] = []
        #: per query PIE received an answer to: (kind, every page a query could show then,
        #: whatever its filter, with its reported ``last_edited_time`` and
        #: ``last_edited_by``; the pages this query returned)
        self.query_shown: list[
            tuple[RecordKind, dict[str, tuple[datetime, str]], frozenset[str]]
        ] = []
        #: per get PIE received a page from: (clock, external id)
        self.got: list[tuple[datetime, str]] = []
        self.writes_applied = 0  # writes that changed the CRM (incl. ones whose answer was lost)
        #: a 401/403 fault revokes access until renew_token(): every request answers it
        self.revoked: FaultKind | None = None
        self._ids = itertools.count(1)

    # --- test controls ---------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def heal(self) -> None:
        self.faults.clear()

    def renew_token(self) -> None:
        """A person renewed the token (or shared the databases again)."""
        self.revoked = None

    def crm_now(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self.skew)

    def human_create(
        self,
        kind: RecordKind,
        fields: Mapping[str, FieldValue],
        *,
        pie_id: UUID | None = None,
        actor: str = HUMAN_ACTOR,
    ) -> str:
        """A person creates a record in the CRM; returns its external id (no request)."""
        return self._create(kind, pie_id, fields, actor).external_id

    def human_edit(
        self,
        kind: RecordKind,
        external_id: str,
        fields: Mapping[str, FieldValue],
        *,
        actor: str = HUMAN_ACTOR,
    ) -> None:
        """A person edits fields in the CRM (no request); also a page the integration cannot
        see (moved out of the database, say): people still can."""
        self._update(self._row(kind, external_id, any_visibility=True), fields, actor)

    def human_trash(
        self, kind: RecordKind, external_id: str, in_trash: bool = True, *, actor: str = HUMAN_ACTOR
    ) -> None:
        row = self._row(kind, external_id, any_visibility=True)
        row.in_trash = in_trash
        self._touch(row, actor)

    def unshare(
        self,
        kind: RecordKind,
        external_id: str,
        visible: bool = False,
        *,
        touch: bool = False,
        actor: str = HUMAN_ACTOR,
    ) -> None:
        """A person hides a page from the integration (moves it out of the database, or
        disconnects the connection from it), or makes it visible again (``visible=True``).
        ``touch``: the move counts as the person's edit of the page (its ``last_edited_time``
        and ``last_edited_by`` change); otherwise the page is as it was."""
        row = self._row(kind, external_id, any_visibility=True)
        row.visible = visible
        if touch:
            self._touch(row, actor)

    def record(self, kind: RecordKind, external_id: str) -> CrmRecord:
        """The record as it is, bypassing faults, budget and visibility (for assertions)."""
        return self._out(self._row(kind, external_id, any_visibility=True))

    def all_records(self, kind: RecordKind) -> list[CrmRecord]:
        return [self._out(r) for r in self.rows.values() if r.kind is kind]

    def request_times(self) -> list[datetime]:
        return [r.at for r in self.requests]

    # --- the contract ----------------------------------------------------------------------

    @property
    def capabilities(self) -> CrmCapabilities:
        return self._caps

    async def create_record(self, kind: RecordKind, pie_id: UUID, fields: Fields) -> WriteResult:
        if self.dedupe_creates:  # like Notion: the PIE-id lookup is a request of its own
            self._answer(await self._send("find"), None)
        lost = await self._send("create")
        existing = self._by_pie_id(kind, pie_id) if self.dedupe_creates else None
        if existing is not None:
            return self._answer(lost, WriteResult(self._out(existing), created=False))
        self._validate(kind, fields)
        row = self._create(kind, pie_id, fields, self._caps.self_actor)
        return self._answer(lost, WriteResult(self._out(row), created=True))

    async def update_record(
        self, kind: RecordKind, external_id: str, fields: Fields
    ) -> WriteResult:
        lost = await self._send("update")
        row = self._visible(kind, external_id)
        if row.in_trash:  # like Notion: a trashed page refuses property edits
            raise CrmRejected(
                400,
                "Can't edit block that is archived. You must unarchive the block before editing.",
                code="validation_error",
            )
        while self.before_update:
            self.before_update.pop(0)(self._out(row), fields)
        self._validate(kind, fields)
        names = field_names(kind)
        read = self.last_read.get(kind)
        if (
            read is not None
            and row.indexed_at <= read
            and external_id not in self.unanswered
            and all(row.fields.get(k) == v for k, v in fields.items() if k in names)
        ):
            self.noop_writes.append(len(self.requests) - 1)
        self._update(row, fields, self._caps.self_actor)
        self.write_log.append((self.clock.now(), external_id, dict(fields)))
        if lost:
            self.unanswered.add(external_id)
        else:
            self.unanswered.discard(external_id)
        return self._answer(lost, WriteResult(self._out(row)))

    async def get_record(self, kind: RecordKind, external_id: str) -> CrmRecord | None:
        lost = await self._send("get")
        row = self.rows.get(external_id)
        found = row if row is not None and row.kind is kind and row.visible else None
        if not lost and found is not None:
            self.got.append((self.clock.now(), external_id))
        return self._answer(lost, None if found is None else self._out(found))

    async def find_by_pie_id(self, kind: RecordKind, pie_id: UUID) -> CrmRecord | None:
        lost = await self._send("find")
        row = self._by_pie_id(kind, pie_id)
        return self._answer(lost, None if row is None else self._out(row))

    async def list_records(
        self, kind: RecordKind, *, cursor: str | None = None, page_size: int = 100
    ) -> Page:
        lost = await self._send("list")
        rows = sorted(self._live(kind), key=lambda r: r.external_id)
        after = _decode(cursor)
        if after is not None:
            rows = [r for r in rows if r.external_id > after[1]]
        page = rows[: _size(page_size)]
        more = len(rows) > len(page)
        token = _encode("", page[-1].external_id) if more and page else None
        return self._answer(lost, Page([self._out(r) for r in page], token))

    async def changes_since(
        self,
        kind: RecordKind,
        since: datetime,
        *,
        cursor: str | None = None,
        page_size: int = 100,
    ) -> Page:
        lost = await self._send("query", kind.value)
        now = self.clock.now()
        if not lost:
            self.last_read[kind] = now
            hidden = frozenset(
                r.external_id
                for r in self.rows.values()
                if r.kind is kind and (r.in_trash or not r.visible or r.indexed_at > now)
            )
            self.query_hidden.append((now, kind, hidden))
        rows = sorted(
            (r for r in self._live(kind) if self._reported(r) >= since and r.indexed_at <= now),
            key=lambda r: (self._reported(r), r.external_id),
        )
        after = _decode(cursor)
        if after is not None:
            rows = [r for r in rows if (self._reported(r).isoformat(), r.external_id) > after]
        page = rows[: _size(page_size)]
        more = len(rows) > len(page)
        token = (
            _encode(self._reported(page[-1]).isoformat(), page[-1].external_id)
            if more and page
            else None
        )
        if not lost:
            shown = {
                r.external_id: (self._reported(r), r.last_edited_by)
                for r in self._live(kind)
                if r.indexed_at <= now
            }
            self.query_shown.append((kind, shown, frozenset(r.external_id for r in page)))
        return self._answer(lost, Page([self._out(r) for r in page], token))

    async def set_trash(self, kind: RecordKind, external_id: str, in_trash: bool) -> WriteResult:
        lost = await self._send("trash")
        row = self._visible(kind, external_id)
        if row.in_trash != in_trash:
            row.in_trash = in_trash
            self._touch(row, self._caps.self_actor)
            self.writes_applied += 1
        return self._answer(lost, WriteResult(self._out(row)))

    async def create_activity(
        self, deal_external_id: str, activity: ActivityInput
    ) -> ActivityResult:
        lost = await self._send("activity")
        self._visible(RecordKind.DEAL, deal_external_id)
        done = self.activities.setdefault(deal_external_id, [])
        for item in done:
            if item.pie_id == activity.pie_id:
                return self._answer(lost, ActivityResult(item.pie_id, item.external_id, False))
        item = _Activity(activity.pie_id, f"block-{next(self._ids)}")
        done.append(item)
        self.writes_applied += 1
        return self._answer(lost, ActivityResult(item.pie_id, item.external_id, True))

    async def list_activities(self, deal_external_id: str) -> Sequence[ActivityResult]:
        lost = await self._send("list")
        self._visible(RecordKind.DEAL, deal_external_id)
        items = self.activities.get(deal_external_id, [])
        return self._answer(lost, [ActivityResult(a.pie_id, a.external_id) for a in items])

    # --- internals -------------------------------------------------------------------------

    async def _send(self, op: str, record: str = "") -> str:
        await self.before_request()
        sent = len(self.requests)
        try:
            return self._request(op)
        finally:
            for i in range(sent, len(self.requests)):
                self.requests[i] = replace(self.requests[i], record=record)

    def _request(self, op: str) -> str:
        """Log the request and raise its fault, if any. What happens to the answer once the
        request is applied: "" delivered, "lost", or "crash" (PIE dies before reading it)."""
        now = self.clock.now()
        crash = next(
            (f for f in self.faults if f.matches(op) and f.kind is FaultKind.CRASH_BEFORE), None
        )
        if crash is not None:
            self.faults.remove(crash)
            raise EngineCrash(f"crash before {op}")
        if self.revoked is not None:
            self.requests.append(Request(now, op, self.revoked.value))
            raise _rejected(self.revoked)
        if self.budget is not None:
            limit, window = self.budget
            recent = [r.at for r in self.requests if r.kind != "refused"]
            recent = [t for t in recent if t > now - timedelta(seconds=window)]
            if len(recent) >= limit:
                wait = (recent[0] + timedelta(seconds=window) - now).total_seconds()
                self.requests.append(Request(now, op, "429-budget"))
                raise CrmRateLimited("rate limited", retry_after=round(max(wait, 0.001), 3))
        fault = next((f for f in self.faults if f.matches(op)), None)
        if fault is None:
            self.requests.append(Request(now, op, "ok"))
            return ""
        fault.times -= 1
        if fault.times <= 0:
            self.faults.remove(fault)
        self.requests.append(Request(now, op, fault.kind.value))
        kind = fault.kind
        if kind in (FaultKind.RATE_LIMITED, FaultKind.OVERLOADED) and fault.retry_after:
            self.retry_afters[len(self.requests) - 1] = fault.retry_after
        if kind is FaultKind.LOST_RESPONSE:
            return "lost"
        if kind is FaultKind.CRASH_AFTER:
            return "crash"
        if kind in (FaultKind.UNAUTHORIZED, FaultKind.FORBIDDEN):
            self.revoked = kind
        if kind is FaultKind.RATE_LIMITED:
            raise CrmRateLimited("rate limited", retry_after=fault.retry_after)
        if kind is FaultKind.OVERLOADED:
            raise CrmUnavailable("service_overload", status=529, retry_after=fault.retry_after)
        if kind is FaultKind.SERVER_ERROR:
            raise CrmUnavailable("internal_server_error", status=500)
        if kind is FaultKind.BAD_GATEWAY:
            raise CrmUnavailable("bad gateway", status=502)
        if kind is FaultKind.TIMEOUT:
            raise CrmTimeout()
        if kind is FaultKind.REFUSED:
            raise CrmUnavailable("connection refused", outcome_unknown=False)
        if kind is FaultKind.CONFLICT:
            raise CrmConflict("could not complete the transaction (data collision)")
        raise _rejected(kind)

    def _answer(self, after: str, result: R) -> R:
        if after == "crash":
            raise EngineCrash("crash after the request was applied")
        if after:
            raise CrmTimeout("the answer was lost")
        return result

    def _validate(self, kind: RecordKind, fields: Fields) -> None:
        for name, value in fields.items():
            if isinstance(value, str) and len(value) > 2000:
                raise CrmRejected(
                    400,
                    f"body failed validation: {name}.length should be ≤ 2000, "
                    f"instead was {len(value)}.",
                    code="validation_error",
                )
            if name == "email" and isinstance(value, str) and len(value) > 200:
                raise CrmRejected(
                    400,
                    f"body failed validation: email.length should be ≤ 200, "
                    f"instead was {len(value)}.",
                    code="validation_error",
                )

    def _create(
        self,
        kind: RecordKind,
        pie_id: UUID | None,
        fields: Mapping[str, FieldValue],
        actor: str,
    ) -> _Row:
        now = self.crm_now()
        ext = f"{kind.value}-{next(self._ids):05d}"
        names = field_names(kind)
        row = _Row(
            kind,
            ext,
            pie_id,
            {k: v for k, v in fields.items() if k in names},
            now,
            now,
            actor,
        )
        row.indexed_at = self.clock.now() + timedelta(seconds=self._lag())
        row.created_by = actor
        self.rows[ext] = row
        self.writes_applied += 1
        return row

    def _update(self, row: _Row, fields: Mapping[str, FieldValue], actor: str) -> None:
        names = field_names(row.kind)
        row.fields.update({k: v for k, v in fields.items() if k in names})
        self._touch(row, actor)
        self.writes_applied += 1

    def _touch(self, row: _Row, actor: str) -> None:
        row.edited_at = self.crm_now()
        row.last_edited_by = actor
        row.indexed_at = self.clock.now() + timedelta(seconds=self._lag())

    def _lag(self) -> float:
        if self.query_lag <= 0:
            return 0.0
        return (next(self._ids) * 7919 % 1000) / 1000 * self.query_lag

    def _reported(self, row: _Row) -> datetime:
        if self.precision >= 60:
            return floor_minute(row.edited_at)
        return row.edited_at

    def _row(self, kind: RecordKind, external_id: str, *, any_visibility: bool = False) -> _Row:
        row = self.rows.get(external_id)
        if row is None or row.kind is not kind or not (row.visible or any_visibility):
            raise CrmRejected(
                404,
                f"Could not find page with ID: {external_id}. Make sure the relevant pages "
                "and databases are shared with your integration.",
                code="object_not_found",
            )
        return row

    def _visible(self, kind: RecordKind, external_id: str) -> _Row:
        return self._row(kind, external_id)

    def _by_pie_id(self, kind: RecordKind, pie_id: UUID) -> _Row | None:
        """Like the Notion adapter's lookup: among the pages the integration can see, a live
        one first, then the oldest."""
        rows = [r for r in self.rows.values() if r.kind is kind and r.pie_id == pie_id]
        rows = [r for r in rows if r.visible]
        rows.sort(key=lambda r: (r.in_trash, r.created_time, r.external_id))
        return rows[0] if rows else None

    def _live(self, kind: RecordKind) -> Iterable[_Row]:
        return (r for r in self.rows.values() if r.kind is kind and r.visible and not r.in_trash)

    def _out(self, row: _Row) -> CrmRecord:
        names = field_names(row.kind)
        return CrmRecord(
            kind=row.kind,
            external_id=row.external_id,
            pie_id=row.pie_id,
            fields={n: row.fields.get(n) for n in sorted(names)},
            last_edited_time=self._reported(row),
            last_edited_by=row.last_edited_by,
            in_trash=row.in_trash,
            created_by=row.created_by or None,
        )


def _rejected(kind: FaultKind) -> CrmRejected:
    status = {FaultKind.VALIDATION: 400, FaultKind.UNAUTHORIZED: 401}.get(kind, 403)
    code = {400: "validation_error", 401: "unauthorized"}.get(status, "restricted_resource")
    return CrmRejected(status, f"injected {code}", code=code)


def _size(page_size: int) -> int:
    if not 1 <= page_size <= 100:
        raise CrmRejected(400, "page_size should be ≤ 100", code="validation_error")
    return page_size


def _encode(key: str, ident: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, ident]).encode()).decode()


def _decode(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        key, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise CrmRejected(400, "start_cursor is not valid", code="validation_error") from exc
    return str(key), str(ident)


__all__ = [
    "EPOCH",
    "HUMAN_ACTOR",
    "OPS",
    "SELF_ACTOR",
    "WRITE_OPS",
    "EngineCrash",
    "FakeCrm",
    "Fault",
    "FaultKind",
    "Request",
    "VirtualClock",
    "floor_minute",
]
