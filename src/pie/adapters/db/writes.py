"""The one write path of records: field ownership, provenance, versions and the change feed.

For a batch of records of one table: the stored rows are read in one query, each record is
merged with its stored row by ``pie.domain.ownership`` (only the fields it carries; the policy
decides which origin may replace which), new records are inserted and changed ones updated
(each update only where the stored version is still the one read, so two writers racing end
in one clean ``StaleVersion``), and one change row per created, updated or deleted record is
appended to the tenant's change feed, all in the caller's transaction. (The creation of a
history record, an activity or a stage transition, is logged without its values: the record
itself holds them, and there are many.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Table, Uuid, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db import bulk
from pie.adapters.db.tables import ChangeCounterRow, ChangeRow, FieldPolicyRow
from pie.adapters.db.types import Money, to_money
from pie.domain import ownership
from pie.domain.errors import InvalidInput, NotFound, StaleVersion
from pie.domain.model import EntityKind
from pie.domain.ownership import DEFAULT_POLICY, Kept, OwnershipPolicy
from pie.ports.repositories import Carried, UpsertCounts

T = TypeVar("T")
CHANGES: Table = ChangeRow.__table__  # type: ignore[assignment]
COUNTERS: Table = ChangeCounterRow.__table__  # type: ignore[assignment]
POLICIES: Table = FieldPolicyRow.__table__  # type: ignore[assignment]
STORE_COLUMNS = frozenset({"version", "provenance"})
NEVER_MERGED = frozenset({"id", "tenant_id"})
PASSIVE = frozenset({"updated_at"})
PREPARE_SLICE = 500  # records prepared between turns of the event loop
_Incoming = dict[UUID, tuple[dict[str, Any], frozenset[str]]]


@dataclass(frozen=True, slots=True)
class TableSpec(Generic[T]):
    table: Table
    kind: EntityKind
    to_row: Callable[[T], dict[str, Any]]
    versioned: bool

    fields: frozenset[str] = field(init=False)
    money: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = frozenset(self.table.c.keys())
        object.__setattr__(self, "fields", names - STORE_COLUMNS - NEVER_MERGED)
        money = tuple(n for n, c in self.table.c.items() if isinstance(c.type, Money))
        object.__setattr__(self, "money", money)


@dataclass(slots=True)
class _Planned:
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    unchanged: int = 0
    read_versions: dict[UUID, int] = field(default_factory=dict)


@dataclass(slots=True)
class Prepared(Generic[T]):
    """A write made ready before the store is read (``Writer.prepare``): its rows, and its
    plan should none of them be stored yet (all creates: versions, provenance, change rows)."""

    spec: TableSpec[T]
    ids: list[UUID]
    plan: _Planned


class Writer:
    """Writes of one unit of work (one tenant, one session)."""

    def __init__(
        self,
        session: AsyncSession,
        tenant_id: UUID,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session, self._tenant, self._clock = session, tenant_id, clock
        self._policy: OwnershipPolicy | None = None
        self._deferred: list[dict[str, Any]] | None = None  # change rows kept by ``one_append``

    # --- the policy -----------------------------------------------------------------------

    async def policy(self) -> OwnershipPolicy:
        if self._policy is None:
            doc = await self._session.scalar(
                select(POLICIES.c.document).where(POLICIES.c.tenant_id == self._tenant)
            )
            self._policy = OwnershipPolicy.from_document(doc) if doc else DEFAULT_POLICY
        return self._policy

    async def save_policy(self, policy: OwnershipPolicy) -> None:
        await bulk.upsert_rows(
            self._session,
            POLICIES,
            [
                {
                    "tenant_id": self._tenant,
                    "document": policy.to_document(),
                    "updated_at": self._clock(),
                }
            ],
            key=("tenant_id",),
        )
        self._policy = policy

    # --- records ----------------------------------------------------------------------------

    async def write(
        self,
        spec: TableSpec[T],
        items: Sequence[T],
        *,
        origin: str,
        fields: Sequence[Carried] | None = None,
        expected_version: int | None = None,
        must_exist: bool = False,
        new: bool = False,
    ) -> UpsertCounts:
        """Create or update ``items`` (keyed by id; a later duplicate wins). ``new``: the
        caller made sure the store holds none of them (nothing to read)."""
        if not items:
            return UpsertCounts()
        origin = ownership.check_origin(origin)
        _check_fields(items, fields)
        incoming: _Incoming = {}
        self._take(spec, items, fields, incoming)
        stored = (
            {}
            if new and not must_exist
            else await bulk.fetch_by_id(self._session, spec.table, self._tenant, list(incoming))
        )
        if must_exist and len(stored) < len(incoming):
            missing = next(i for i in incoming if i not in stored)
            raise NotFound(missing)
        plan = self._plan(spec, incoming, stored, origin, await self.policy(), expected_version)
        plan.unchanged += len(items) - len(incoming)
        await bulk.insert_rows(self._session, spec.table, plan.creates)
        missed = await bulk.update_rows(
            self._session, spec.table, plan.updates, versioned=spec.versioned
        )
        if missed:
            await self._stale(spec, missed, plan.read_versions)
        await self.append(plan.changes)
        return UpsertCounts(len(plan.creates), len(plan.updates), plan.unchanged, tuple(plan.kept))

    async def prepare(
        self,
        spec: TableSpec[T],
        items: Sequence[T],
        *,
        origin: str,
        fields: Sequence[Carried] | None = None,
    ) -> Prepared[T]:
        """What ``write`` does before it reads the stored rows, and its plan for records none
        of which is stored: to be done ahead (while another write runs), then stored by the
        caller if the store indeed holds none of ``Prepared.ids``, or else written by
        ``write``. Gives the event loop a turn every ``PREPARE_SLICE`` records (each slice's
        provenance and change rows take the clock's time when it is planned)."""
        origin = ownership.check_origin(origin)
        _check_fields(items, fields)
        incoming: _Incoming = {}
        for start in range(0, len(items), PREPARE_SLICE):
            await asyncio.sleep(0)
            end = start + PREPARE_SLICE
            part = None if fields is None else fields[start:end]
            self._take(spec, items[start:end], part, incoming)
        plan, entries = _Planned(), list(incoming.items())
        for start in range(0, len(entries), PREPARE_SLICE):
            await asyncio.sleep(0)
            new = dict(entries[start : start + PREPARE_SLICE])
            done = self._plan(spec, new, {}, origin, DEFAULT_POLICY, None)
            plan.creates += done.creates
            plan.changes += done.changes
        plan.unchanged = len(items) - len(incoming)
        return Prepared(spec, list(incoming), plan)

    def _take(
        self,
        spec: TableSpec[T],
        items: Sequence[T],
        fields: Sequence[Carried] | None,
        incoming: _Incoming,
    ) -> None:
        """Add ``items`` to ``incoming``: each one's row and the table's fields it carries
        (``fields``, aligned with ``items``), by id (a later duplicate wins)."""
        mine: dict[frozenset[str], frozenset[str]] = {}  # carried -> the table's fields of it
        for n, item in enumerate(items):
            row = self._row(spec, item)
            carried = fields[n] if fields is not None else None
            if carried is None:
                incoming[row["id"]] = (row, spec.fields)
                continue
            kept = mine.get(carried)
            if kept is None:
                kept = mine[carried] = carried & spec.fields
            incoming[row["id"]] = (row, kept)

    def _row(self, spec: TableSpec[T], item: T) -> dict[str, Any]:
        row = spec.to_row(item)
        if row["tenant_id"] != self._tenant:
            raise InvalidInput(
                f"{spec.table.name} {row['id']} belongs to another tenant", field="tenant_id"
            )
        for name in spec.money:
            if row.get(name) is not None:
                row[name] = to_money(row[name])
        return row

    def _plan(
        self,
        spec: TableSpec[Any],
        incoming: Mapping[UUID, tuple[dict[str, Any], frozenset[str]]],
        stored: Mapping[UUID, dict[str, Any]],
        origin: str,
        policy: OwnershipPolicy,
        expected_version: int | None,
    ) -> _Planned:
        plan, now, tenant = _Planned(), self._clock(), self._tenant
        stamp, entity = now.isoformat(), spec.kind.value
        logged: dict[frozenset[str], tuple[str, ...]] = {}  # carried -> the fields logged
        for ident, (row, carried) in incoming.items():
            old = stored.get(ident)
            if old is None:
                changed: Mapping[str, tuple[Any, Any]] = {}
                if spec.versioned:  # history records (activities, transitions) log no values
                    names = logged.get(carried)
                    if names is None:
                        names = logged[carried] = tuple(n for n in carried if n not in PASSIVE)
                    changed, prov = ownership.created(
                        values=row, carried=names, origin=origin, at=stamp
                    )
                    row["version"], row["provenance"] = 1, prov  # the row is the writer's own
                plan.creates.append(row)
                plan.changes.append(
                    _change(tenant, entity, ident, "create", 1, origin, changed, now)
                )
                continue
            version = int(old.get("version", 0))
            if expected_version is not None and version != expected_version:
                raise StaleVersion(spec.kind.value, ident, expected_version, version)
            merged = ownership.merge(
                entity=spec.kind,
                entity_id=ident,
                stored={k: v for k, v in old.items() if k not in STORE_COLUMNS},
                provenance=old.get("provenance") or {},
                incoming=row,
                carried=carried,
                origin=origin,
                at=stamp,
                policy=policy,
                passive=PASSIVE,
            )
            plan.kept += merged.kept
            if not merged.changed:
                plan.unchanged += 1
                continue
            values = merged.values
            if spec.versioned:
                values = {**values, "version": version + 1, "provenance": merged.provenance}
                plan.read_versions[ident] = version
            plan.updates.append(values)
            plan.changes.append(
                _change(tenant, entity, ident, "update", version + 1, origin, merged.changed, now)
            )
        return plan

    async def _stale(
        self, spec: TableSpec[Any], missed: set[UUID], read: Mapping[UUID, int]
    ) -> None:
        ident = min(missed)
        now = await bulk.fetch_by_id(self._session, spec.table, self._tenant, [ident])
        actual = int(now[ident]["version"]) if ident in now else 0
        raise StaleVersion(spec.kind.value, ident, read.get(ident, 0), actual)

    async def deleted(self, kind: EntityKind, ident: UUID, version: int, origin: str) -> None:
        change = _change(
            self._tenant, kind.value, ident, "delete", version, origin, {}, self._clock()
        )
        await self.append([change])

    # --- the change feed --------------------------------------------------------------------

    async def append(self, changes: list[dict[str, Any]]) -> None:
        """Number ``changes`` (made by ``_change``) after the tenant's last change and store
        them. The counter row stays locked until the transaction ends, so a tenant's seqs are
        in commit order."""
        if not changes:
            return
        if self._deferred is not None:
            self._deferred += changes
            return
        tenant = self._tenant
        if len(changes) > bulk.NUMBERED_CHUNK or not await bulk.insert_numbered(
            self._session, CHANGES, COUNTERS, tenant, changes
        ):
            last = await self._bump(len(changes))
            for seq, change in enumerate(changes, last - len(changes) + 1):
                change["seq"] = seq
            await bulk.insert_rows(self._session, CHANGES, changes)

    def ready_changes(self, changes: Sequence[dict[str, Any]], first: int) -> list[tuple[Any, ...]]:
        """Change rows (of ``prepare``) as ``append_ready`` sends them to PostgreSQL, made
        ahead: the ``first``-th, the next, ... of the change rows appended together."""
        for seq, change in enumerate(changes, first):
            change["seq"] = seq
        return bulk.pg_records(CHANGES, changes)

    async def append_ready(self, records: Sequence[tuple[Any, ...]]) -> None:
        """Append change rows made by ``ready_changes`` (from 1 on, in order), numbered after
        the tenant's last change (PostgreSQL)."""
        if records:
            done = await bulk.insert_numbered(
                self._session, CHANGES, COUNTERS, self._tenant, (), records=records
            )
            assert done, "change rows are made ready for PostgreSQL only"

    @contextlib.asynccontextmanager
    async def one_append(self) -> AsyncIterator[None]:
        """The change rows of the writes inside are kept, and appended at the end in the order
        they were made (numbered as if appended one write at a time): one statement instead of
        one per write. Nothing is appended if the block fails."""
        if self._deferred is not None:  # inside another: that one appends
            yield
            return
        self._deferred = []
        try:
            yield
            changes = self._deferred
        finally:
            self._deferred = None
        await self.append(changes)

    async def _bump(self, count: int) -> int:
        result = await self._session.execute(
            text(
                "INSERT INTO change_counters (tenant_id, last_seq) VALUES (:t, :n) "
                "ON CONFLICT (tenant_id) DO UPDATE "
                "SET last_seq = change_counters.last_seq + :n RETURNING last_seq"
            ).bindparams(bindparam("t", self._tenant, type_=Uuid()), bindparam("n", count)),
        )
        last = result.scalar_one()
        return int(last)


def _check_fields(items: Sequence[Any], fields: Sequence[Carried] | None) -> None:
    if fields is not None and len(fields) != len(items):
        raise ValueError("fields must name the carried fields of each item")


def _change(
    tenant: UUID,
    entity: str,
    ident: UUID,
    op: str,
    version: int,
    origin: str,
    changed: Mapping[str, tuple[Any, Any]],
    at: datetime,
) -> dict[str, Any]:
    """A change row of the tenant, numbered by ``Writer.append``; its ``fields`` (each field's
    old and new value, a pair: a JSON array) are encoded to JSON (ISO dates, money as
    strings) by the JSON column's serializer."""
    return {
        "tenant_id": tenant,
        "seq": None,
        "entity": entity,
        "entity_id": ident,
        "op": op,
        "version": version,
        "origin": origin,
        "fields": changed,
        "at": at,
    }
