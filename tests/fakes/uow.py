"""In-memory unit of work and tenant directory with real state and transaction semantics.

`InMemoryStore` is the "database"; each `InMemoryUnitOfWork` works on a private copy of the
tenant's tables and publishes it on `commit()`, so an abandoned or failed unit of work leaves
the store untouched, exactly like the SQL adapter. It keeps the repository contract (see
tests/contract) honest: the same suite runs against it and the real engines.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Generic, Self, TypeVar
from uuid import UUID, uuid4

import orjson

from pie.adapters.db import mapping
from pie.adapters.db.engine import json_dumps
from pie.adapters.db.types import to_money
from pie.domain import ownership
from pie.domain.dedup import MATCH_WINDOW, is_matching_deal
from pie.domain.errors import (
    ApiKeyNotFound,
    Conflict,
    InvalidInput,
    NotFound,
    StaleVersion,
    TenantNotFound,
)
from pie.domain.model import (
    MERGED,
    Account,
    Activity,
    Contact,
    Deal,
    EntityKind,
    ExternalRef,
    StageTransition,
    Stakeholder,
    Tenant,
)
from pie.domain.ownership import DEFAULT_POLICY, PIE, Kept, OwnershipPolicy
from pie.domain.plans import AccountPlan, AccountPlanData, OpportunityPlan, OpportunityPlanData
from pie.domain.stages import CLOSED_STAGES
from pie.mining.columns import DealColumns, from_histories
from pie.ports.repositories import (
    CachedModel,
    Carried,
    Change,
    Cursor,
    DealFilter,
    UpsertCounts,
)
from pie.ports.uow import ApiKey, NewTenant, records_of
from pie.simulation.streams import stream_identity
from tests.fakes.intelligence import FakeIntelligenceRepository
from tests.fakes.intelligence import new_state as intel_state
from tests.fakes.intelligence import snapshot as intel_snapshot
from tests.fakes.sync_state import FakeSyncStateRepository, SyncTables

T = TypeVar("T")

#: name -> (entity kind, to_row, from_row, versioned): the SQL adapter's own row mapping, so
#: the fake compares, merges and logs exactly the values the real store does.
_SPECS: dict[
    str, tuple[EntityKind, Callable[[Any], dict[str, Any]], Callable[[Any], Any], bool]
] = {
    "accounts": (EntityKind.ACCOUNT, mapping.account_to_row, mapping.account_from_row, True),
    "contacts": (EntityKind.CONTACT, mapping.contact_to_row, mapping.contact_from_row, True),
    "stakeholders": (
        EntityKind.STAKEHOLDER,
        mapping.stakeholder_to_row,
        mapping.stakeholder_from_row,
        True,
    ),
    "deals": (EntityKind.DEAL, mapping.deal_to_row, mapping.deal_from_row, True),
    "activities": (EntityKind.ACTIVITY, mapping.activity_to_row, mapping.activity_from_row, False),
    "transitions": (
        EntityKind.STAGE_TRANSITION,
        mapping.transition_to_row,
        mapping.transition_from_row,
        False,
    ),
}
_MONEY = ("annual_revenue", "value")
_NEVER_MERGED = frozenset({"id", "tenant_id"})
_PASSIVE = frozenset({"updated_at"})


def _clone(item: T) -> T:
    """A copy the caller may change freely: records' only mutable parts are the record itself
    and its dict fields (tuples hold frozen values)."""
    if item is None:
        return item
    twin = copy.copy(item)
    for f in dataclasses.fields(twin):  # type: ignore[arg-type]
        value = getattr(twin, f.name)
        if isinstance(value, dict) and value:
            setattr(twin, f.name, copy.deepcopy(value))
    return twin


class Tables:
    """One tenant's rows, with the store's own bookkeeping."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[UUID, Any]] = {name: {} for name in _SPECS}
        self.provenance: dict[tuple[str, UUID], dict[str, list[str]]] = {}
        self.refs: dict[tuple[EntityKind, str, str], ExternalRef] = {}
        self.account_plans: dict[UUID, AccountPlan] = {}
        self.opportunity_plans: dict[UUID, OpportunityPlan] = {}
        self.changes: list[Change] = []
        self.cursors: dict[tuple[str, str], Cursor] = {}
        self.models: dict[str, CachedModel] = {}
        self.policy: OwnershipPolicy = DEFAULT_POLICY
        self.intel: dict[str, Any] = intel_state()
        self.sync = SyncTables()


def _snapshot(tables: Tables) -> Tables:
    twin = Tables()
    twin.rows = {name: dict(rows) for name, rows in tables.rows.items()}
    twin.provenance = dict(tables.provenance)
    twin.refs = dict(tables.refs)
    twin.account_plans = dict(tables.account_plans)
    twin.opportunity_plans = dict(tables.opportunity_plans)
    twin.changes = list(tables.changes)
    twin.cursors = dict(tables.cursors)
    twin.models = dict(tables.models)
    twin.policy = tables.policy
    twin.intel = intel_snapshot(tables.intel)
    twin.sync = tables.sync.snapshot()
    return twin


class InMemoryStore:
    def __init__(self) -> None:
        self.tenants: dict[UUID, Tenant] = {}
        self.key_hashes: dict[str, UUID] = {}
        self.tables: dict[UUID, Tables] = {}
        self.commits = 0

    def tables_for(self, tenant_id: UUID) -> Tables:
        return self.tables.setdefault(tenant_id, Tables())


def jsonable(value: Any) -> Any:
    """A value as the SQL store's JSON columns give it back (see engine.json_dumps)."""
    return orjson.loads(json_dumps(value))


def _row_of(item: Any, to_row: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    row = to_row(item)
    for name in _MONEY:
        if row.get(name) is not None:
            row[name] = to_money(row[name])
    return row


class _Repo(Generic[T]):
    def __init__(
        self,
        tables: Tables,
        name: str,
        tenant_id: UUID,
        clock: Callable[[], datetime],
        *,
        cascade: Callable[[UUID], None] | None = None,
    ):
        self._tables, self._name, self._cascade = tables, name, cascade
        self._tenant, self._clock = tenant_id, clock
        self._kind, self._to_row, self._from_row, self._versioned = _SPECS[name]

    @property
    def _rows(self) -> dict[UUID, T]:
        return self._tables.rows[self._name]

    def _out(self, item: T) -> T:
        return self._outs([item])[0]

    def _outs(self, items: Sequence[T]) -> list[T]:
        """Copies of ``items`` with their source ids from the refs (one pass over the refs)."""
        twins = [_clone(item) for item in items]
        if not twins or not hasattr(twins[0], "external_ids"):
            return twins
        wanted = {twin.id for twin in twins}  # type: ignore[attr-defined]
        ids: dict[UUID, dict[str, str]] = {}
        for ref in self._tables.refs.values():
            if ref.kind == self._kind and ref.entity_id in wanted:
                known = ids.setdefault(ref.entity_id, {})
                if ref.digest != MERGED or ref.source not in known:
                    known[ref.source] = ref.external_id
        for twin in twins:
            twin.external_ids = ids.get(twin.id, {})  # type: ignore[attr-defined]
        return twins

    async def get(self, ident: UUID) -> T | None:
        row = self._rows.get(ident)
        return self._out(row) if row is not None else None

    async def add(self, item: T, *, origin: str = PIE) -> None:
        ident: UUID = item.id  # type: ignore[attr-defined]
        if ident in self._rows:
            raise Conflict(f"{self._name} {ident} exists already")
        self._write([item], origin=origin)

    async def update(
        self,
        item: T,
        *,
        origin: str = PIE,
        expected_version: int | None = None,
        fields: Carried = None,
    ) -> UpsertCounts:
        ident: UUID = item.id  # type: ignore[attr-defined]
        if ident not in self._rows:
            raise NotFound(ident)
        return self._write(
            [item], origin=origin, fields=[fields], expected_version=expected_version
        )

    async def delete(self, ident: UUID, *, origin: str = PIE) -> bool:
        old = self._rows.pop(ident, None)
        if old is None:
            return False
        version = getattr(old, "version", 0) + 1 if self._versioned else 1
        self._log(ident, "delete", version, origin, {})
        self._tables.provenance.pop((self._name, ident), None)
        self._drop_refs(self._kind, ident)
        if self._cascade:
            self._cascade(ident)
        return True

    def _drop_refs(self, kind: EntityKind, ident: UUID) -> None:
        refs = self._tables.refs
        for key in [k for k, r in refs.items() if r.kind == kind and r.entity_id == ident]:
            del refs[key]

    async def upsert_many(
        self,
        items: Sequence[T],
        *,
        origin: str = PIE,
        fields: Sequence[Carried] | None = None,
    ) -> UpsertCounts:
        for item in items:
            if item.tenant_id != self._tenant:  # type: ignore[attr-defined]
                raise InvalidInput(f"{self._name} belongs to another tenant", field="tenant_id")
        return self._write(items, origin=origin, fields=fields)

    def _write(
        self,
        items: Sequence[T],
        *,
        origin: str,
        fields: Sequence[Carried] | None = None,
        expected_version: int | None = None,
    ) -> UpsertCounts:
        origin = ownership.check_origin(origin)
        incoming: dict[UUID, tuple[dict[str, Any], frozenset[str]]] = {}
        for n, item in enumerate(items):
            row = _row_of(item, self._to_row)
            mergeable = frozenset(row) - _NEVER_MERGED
            carried = fields[n] if fields is not None else None
            incoming[row["id"]] = (row, mergeable if carried is None else carried & mergeable)
        created = updated = 0
        unchanged = len(items) - len(incoming)
        kept: list[Kept] = []
        now = self._clock()
        for ident, (row, carried) in incoming.items():
            old = self._rows.get(ident)
            if old is None and not self._versioned:
                self._store_row(row, 1, {})
                self._log(ident, "create", 1, origin, {})
                created += 1
                continue
            if old is None:
                changed, prov = ownership.created(
                    values=row, carried=carried, origin=origin, at=now.isoformat(), skip=_PASSIVE
                )
                self._store_row(row, 1, prov)
                self._log(ident, "create", 1, origin, changed)
                created += 1
                continue
            version = getattr(old, "version", 0)
            if expected_version is not None and version != expected_version:
                raise StaleVersion(self._kind.value, ident, expected_version, version)
            merged = ownership.merge(
                entity=self._kind,
                entity_id=ident,
                stored=_row_of(old, self._to_row),
                provenance=self._tables.provenance.get((self._name, ident), {}),
                incoming=row,
                carried=carried,
                origin=origin,
                at=now.isoformat(),
                policy=self._tables.policy,
                passive=_PASSIVE,
            )
            kept += merged.kept
            if not merged.changed:
                unchanged += 1
                continue
            self._store_row(merged.values, version + 1, merged.provenance)
            self._log(ident, "update", version + 1, origin, merged.changed)
            updated += 1
        return UpsertCounts(created, updated, unchanged, tuple(kept))

    def _store_row(self, row: dict[str, Any], version: int, prov: dict[str, list[str]]) -> None:
        item = self._from_row({**row, "version": version} if self._versioned else row)
        self._rows[row["id"]] = item
        if self._versioned:
            self._tables.provenance[(self._name, row["id"])] = prov

    def _log(
        self,
        ident: UUID,
        op: str,
        version: int,
        origin: str,
        changed: dict[str, tuple[Any, Any]],
    ) -> None:
        changes = self._tables.changes
        changes.append(
            Change(
                seq=(changes[-1].seq if changes else 0) + 1,
                entity=self._kind,
                entity_id=ident,
                op=op,
                version=version,
                origin=origin,
                fields={k: [jsonable(a), jsonable(b)] for k, (a, b) in changed.items()},
                at=self._clock(),
            )
        )

    async def provenance(self, ident: UUID) -> dict[str, list[str]]:
        return copy.deepcopy(self._tables.provenance.get((self._name, ident), {}))

    async def iter_all(self, *, batch_size: int = 5000) -> AsyncIterator[Sequence[T]]:
        ordered = [self._rows[k] for k in sorted(self._rows)]
        for start in range(0, len(ordered), batch_size):
            yield self._outs(ordered[start : start + batch_size])

    def _where(self, pred: Callable[[T], bool], key: Callable[[T], Any]) -> list[T]:
        return self._outs(sorted((r for r in self._rows.values() if pred(r)), key=key))


class FakeAccountRepository(_Repo[Account]):
    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Account]:
        return self._where(lambda a: True, lambda a: (a.name, a.id))[offset : offset + limit]

    async def count(self) -> int:
        return len(self._rows)


class FakeContactRepository(_Repo[Contact]):
    async def for_account(self, account_id: UUID) -> Sequence[Contact]:
        return self._where(lambda c: c.account_id == account_id, lambda c: (c.name, c.id))


class FakeStakeholderRepository(_Repo[Stakeholder]):
    async def for_deal(self, deal_id: UUID) -> Sequence[Stakeholder]:
        return self._where(lambda s: s.deal_id == deal_id, lambda s: s.id)

    async def for_account(self, account_id: UUID) -> Sequence[Stakeholder]:
        return self._where(lambda s: s.account_id == account_id, lambda s: s.id)


def _matches(deal: Deal, flt: DealFilter) -> bool:
    return (
        (not flt.stages or deal.stage in flt.stages)
        and (flt.account_id is None or deal.account_id == flt.account_id)
        and (flt.is_open is None or (deal.stage not in CLOSED_STAGES) == flt.is_open)
        and (flt.name_contains is None or flt.name_contains.lower() in deal.name.lower())
    )


class FakeDealRepository(_Repo[Deal]):
    async def list(
        self, flt: DealFilter = DealFilter(), *, limit: int = 100, offset: int = 0
    ) -> Sequence[Deal]:
        rows = sorted(
            (d for d in self._rows.values() if _matches(d, flt)),
            key=lambda d: (-d.created_at.timestamp(), d.id),
        )
        return self._outs(rows[offset : offset + limit])

    async def count(self, flt: DealFilter = DealFilter()) -> int:
        return sum(1 for d in self._rows.values() if _matches(d, flt))

    async def get_many(self, idents: Sequence[UUID]) -> dict[UUID, Deal]:
        found = [self._rows[i] for i in dict.fromkeys(idents) if i in self._rows]
        return {d.id: d for d in self._outs(found)}

    async def find_matching(
        self, *, account_id: UUID, product_line: str | None, expected_close: date | None
    ) -> Deal | None:
        candidates = [
            d
            for d in self._rows.values()
            if is_matching_deal(
                d, account_id=account_id, product_line=product_line, expected_close=expected_close
            )
        ]

        def distance(d: Deal) -> float:
            if d.expected_close is None or expected_close is None:
                return MATCH_WINDOW.days + 1
            return abs((d.expected_close - expected_close).days)

        candidates.sort(key=lambda d: (distance(d), d.id))
        return self._out(candidates[0]) if candidates else None


class FakeActivityRepository(_Repo[Activity]):
    async def for_deal(self, deal_id: UUID) -> Sequence[Activity]:
        return self._where(lambda a: a.deal_id == deal_id, lambda a: (a.occurred_at, a.id))


class FakeStageTransitionRepository(_Repo[StageTransition]):
    async def for_deal(self, deal_id: UUID) -> Sequence[StageTransition]:
        return self._where(lambda t: t.deal_id == deal_id, lambda t: (t.at, t.id))


class FakeExternalRefRepository:
    def __init__(self, tables: Tables) -> None:
        self._refs = tables.refs

    async def resolve(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, UUID]:
        found = {x: self._refs.get((kind, source, x)) for x in external_ids}
        return {x: ref.entity_id for x, ref in found.items() if ref is not None}

    async def any_from(self, source: str) -> bool:
        return any(r.source == source for r in self._refs.values())

    async def of_source(self, kind: EntityKind, source: str) -> dict[str, UUID]:
        return {
            r.external_id: r.entity_id
            for r in self._refs.values()
            if r.kind == kind and r.source == source
        }

    async def digests(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, str]:
        found = {x: self._refs.get((kind, source, x)) for x in external_ids}
        return {x: r.digest for x, r in found.items() if r is not None and r.digest is not None}

    async def upsert_many(self, refs: Sequence[ExternalRef]) -> UpsertCounts:
        created = updated = unchanged = 0
        for ref in refs:
            key = (ref.kind, ref.source, ref.external_id)
            old = self._refs.get(key)
            if ref.digest is None and old is not None:
                ref = dataclasses.replace(ref, digest=old.digest)
            if old is None:
                created += 1
            elif old == ref:
                unchanged += 1
                continue
            else:
                updated += 1
            self._refs[key] = ref
        return UpsertCounts(created, updated, unchanged)

    async def add_many(self, refs: Sequence[ExternalRef]) -> None:
        unique = {(r.kind, r.source, r.external_id): r for r in refs}
        if any(key in self._refs for key in unique):
            raise Conflict("external_refs: a ref was created by someone else at the same time")
        self._refs.update(unique)

    async def for_entity(self, kind: EntityKind, entity_id: UUID) -> Sequence[ExternalRef]:
        return sorted(
            (r for r in self._refs.values() if r.kind == kind and r.entity_id == entity_id),
            key=lambda r: (r.source, r.external_id),
        )


class FakeCursorRepository:
    def __init__(self, tables: Tables, clock: Callable[[], datetime]) -> None:
        self._tables, self._clock = tables, clock

    async def get(self, source: str, stream: str) -> Cursor | None:
        return self._tables.cursors.get((source, stream))

    async def save(self, source: str, stream: str, value: str) -> None:
        self._tables.cursors[(source, stream)] = Cursor(source, stream, value, self._clock())


class FakeChangeFeed:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def latest(self) -> int:
        return self._tables.changes[-1].seq if self._tables.changes else 0

    async def list(
        self, *, since: int = 0, entity: EntityKind | None = None, limit: int = 100
    ) -> Sequence[Change]:
        found = [
            c
            for c in self._tables.changes
            if c.seq > since and (entity is None or c.entity is entity)
        ]
        return found[: max(0, limit)]


class FakeModelCache:
    def __init__(self, tables: Tables, clock: Callable[[], datetime]) -> None:
        self._tables, self._clock = tables, clock

    async def get(self, key: str) -> CachedModel | None:
        return self._tables.models.get(key)

    async def put(self, key: str, change_seq: int, payload: bytes) -> None:
        self._tables.models[key] = CachedModel(key, change_seq, payload, self._clock())


class FakePolicyRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def get(self) -> OwnershipPolicy:
        return self._tables.policy

    async def save(self, policy: OwnershipPolicy) -> None:
        self._tables.policy = policy


class FakePlanRepository:
    def __init__(self, tables: Tables, tenant_id: UUID, clock: Callable[[], datetime]) -> None:
        self._tables, self._tenant, self._clock = tables, tenant_id, clock

    async def get_account_plan(self, account_id: UUID) -> AccountPlan | None:
        return copy.deepcopy(self._tables.account_plans.get(account_id))

    async def save_account_plan(
        self, account_id: UUID, data: AccountPlanData, *, expected_version: int
    ) -> AccountPlan:
        old = self._tables.account_plans.get(account_id)
        actual = old.version if old else 0
        if actual != expected_version:
            raise StaleVersion("account plan", account_id, expected_version, actual)
        plan = AccountPlan(
            id=old.id if old else uuid4(),
            tenant_id=self._tenant,
            account_id=account_id,
            version=actual + 1,
            data=data.model_copy(deep=True),
            updated_at=self._clock(),
        )
        self._tables.account_plans[account_id] = plan
        return copy.deepcopy(plan)

    async def get_opportunity_plan(self, deal_id: UUID) -> OpportunityPlan | None:
        return copy.deepcopy(self._tables.opportunity_plans.get(deal_id))

    async def save_opportunity_plan(
        self, deal_id: UUID, data: OpportunityPlanData, *, expected_version: int
    ) -> OpportunityPlan:
        old = self._tables.opportunity_plans.get(deal_id)
        actual = old.version if old else 0
        if actual != expected_version:
            raise StaleVersion("opportunity plan", deal_id, expected_version, actual)
        plan = OpportunityPlan(
            id=old.id if old else uuid4(),
            tenant_id=self._tenant,
            deal_id=deal_id,
            version=actual + 1,
            data=data.model_copy(deep=True),
            updated_at=self._clock(),
        )
        self._tables.opportunity_plans[deal_id] = plan
        return copy.deepcopy(plan)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FakeRecordBatch:
    """``upsert_many`` of each kind added, in order (the fake's change feed numbers them the
    same way one write after another does)."""

    def __init__(self, uow: InMemoryUnitOfWork, origin: str) -> None:
        self._uow, self._origin = uow, origin
        self._parts: list[tuple[EntityKind, Sequence[Any], Sequence[Carried] | None]] = []
        self._refs: list[ExternalRef] = []

    async def add(
        self,
        kind: EntityKind,
        items: Sequence[Any],
        *,
        fields: Sequence[Carried] | None = None,
        new: bool = False,
    ) -> None:
        if items:
            self._parts.append((kind, items, fields))

    async def add_refs(self, refs: Sequence[ExternalRef]) -> None:
        self._refs += refs

    async def store(self) -> list[tuple[EntityKind, UpsertCounts]]:
        parts, self._parts = self._parts, []
        refs, self._refs = self._refs, []
        counts = [
            (
                kind,
                await records_of(self._uow, kind).upsert_many(
                    items, origin=self._origin, fields=fields
                ),
            )
            for kind, items, fields in parts
        ]
        if refs:
            await self._uow.refs.add_many(refs)
        return counts


class InMemoryUnitOfWork:
    overlaps_writes = True  # so the importer's overlapped writes are tested

    def batch(self, *, origin: str) -> FakeRecordBatch:
        return FakeRecordBatch(self, origin)

    def __init__(
        self, tenant_id: UUID, store: InMemoryStore, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.tenant_id, self._store, self._clock = tenant_id, store, clock
        self.committed = False

    async def __aenter__(self) -> Self:
        self._begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rollback()

    def _begin(self) -> None:
        # Rows are never changed in place (writes store clones, reads return clones), so the
        # transaction's private copy only needs copies of the tables' dicts.
        self._work = _snapshot(self._store.tables_for(self.tenant_id))
        t = self._work
        me, clock = self.tenant_id, self._clock
        self.accounts = FakeAccountRepository(
            t, "accounts", me, clock, cascade=self._account_deleted
        )
        self.contacts = FakeContactRepository(
            t, "contacts", me, clock, cascade=self._contact_deleted
        )
        self.stakeholders = FakeStakeholderRepository(t, "stakeholders", me, clock)
        self.deals = FakeDealRepository(t, "deals", me, clock, cascade=self._deal_deleted)
        self.activities = FakeActivityRepository(t, "activities", me, clock)
        self.transitions = FakeStageTransitionRepository(t, "transitions", me, clock)
        self.refs = FakeExternalRefRepository(t)
        self.plans = FakePlanRepository(t, me, clock)
        self.cursors = FakeCursorRepository(t, clock)
        self.changes = FakeChangeFeed(t)
        self.models = FakeModelCache(t, clock)
        self.policy = FakePolicyRepository(t)
        self.intel = FakeIntelligenceRepository(t.intel, t.rows, t)
        self.sync = FakeSyncStateRepository(t.sync, clock)
        self.columns = FakeColumnReader(self)

    async def commit(self) -> None:
        self._store.tables[self.tenant_id] = self._work
        self._store.commits += 1
        self.committed = True
        self._begin()

    async def rollback(self) -> None:
        self._begin()

    # ON DELETE rules of the SQL schema: children of a deal go with it; references are cleared.
    def _deal_deleted(self, deal_id: UUID) -> None:
        rows = self._work.rows
        for name in ("stakeholders", "activities", "transitions"):
            gone = {k for k, v in rows[name].items() if v.deal_id == deal_id}
            rows[name] = {k: v for k, v in rows[name].items() if k not in gone}
            self._drop_refs(_SPECS[name][0], gone)
            for key in ("activities", "profiles", "evidence"):  # their intelligence rows
                self._work.intel[key] = {
                    k: v for k, v in self._work.intel[key].items() if k not in gone
                }
        self._work.opportunity_plans.pop(deal_id, None)

    def _account_deleted(self, account_id: UUID) -> None:
        rows = self._work.rows
        for name in ("contacts", "deals", "activities"):
            for key, row in rows[name].items():
                if row.account_id == account_id:
                    rows[name][key] = dataclasses.replace(row, account_id=None)
        gone = {
            k
            for k, v in rows["stakeholders"].items()
            if v.account_id == account_id and v.deal_id is None
        }
        rows["stakeholders"] = {k: v for k, v in rows["stakeholders"].items() if k not in gone}
        self._drop_refs(EntityKind.STAKEHOLDER, gone)
        self._work.account_plans.pop(account_id, None)

    def _contact_deleted(self, contact_id: UUID) -> None:
        rows = self._work.rows
        gone = {k for k, v in rows["stakeholders"].items() if v.contact_id == contact_id}
        rows["stakeholders"] = {k: v for k, v in rows["stakeholders"].items() if k not in gone}
        self._drop_refs(EntityKind.STAKEHOLDER, gone)

    def _drop_refs(self, kind: EntityKind, gone: set[UUID]) -> None:
        refs = self._work.refs
        for key in [k for k, r in refs.items() if r.kind == kind and r.entity_id in gone]:
            del refs[key]


def _hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class FakeTenantDirectory:
    """Tenants in ``store.tenants``; live keys' hashes in ``store.key_hashes``, every key's
    shown prefix and dates here."""

    def __init__(self, store: InMemoryStore, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._store, self._clock = store, clock
        self._keys: dict[str, tuple[UUID, ApiKey]] = {}  # hash -> (tenant, key)

    async def create(self, name: str) -> NewTenant:
        if any(t.name == name for t in self._store.tenants.values()):
            raise Conflict(f"a tenant named {name!r} exists already")
        tenant = Tenant(id=uuid4(), name=name, created_at=self._clock())
        self._store.tenants[tenant.id] = tenant
        return NewTenant(tenant=tenant, api_key=await self.issue_key(tenant.id))

    async def list(self) -> Sequence[Tenant]:
        return sorted(self._store.tenants.values(), key=lambda t: t.name)

    async def rename(self, tenant_id: UUID, name: str) -> Tenant:
        if tenant_id not in self._store.tenants:
            raise TenantNotFound(tenant_id)
        if any(t.name == name and t.id != tenant_id for t in self._store.tenants.values()):
            raise Conflict(f"a tenant named {name!r} exists already")
        renamed = dataclasses.replace(self._store.tenants[tenant_id], name=name)
        self._store.tenants[tenant_id] = renamed
        return renamed

    async def issue_key(self, tenant_id: UUID) -> str:
        if tenant_id not in self._store.tenants:
            raise TenantNotFound(tenant_id)
        key = "pie_" + secrets.token_urlsafe(32)
        self._store.key_hashes[_hash_key(key)] = tenant_id
        self._keys[_hash_key(key)] = (tenant_id, ApiKey(key[:12], self._clock()))
        return key

    async def list_keys(self, tenant_id: UUID) -> Sequence[ApiKey]:
        if tenant_id not in self._store.tenants:
            raise TenantNotFound(tenant_id)
        keys = [k for t, k in self._keys.values() if t == tenant_id]
        return sorted(keys, key=lambda k: (k.created_at, k.prefix))

    async def revoke_key(self, tenant_id: UUID, key_or_prefix: str) -> ApiKey:
        whole = len(key_or_prefix) > 12
        live = [
            h
            for h, (t, k) in self._keys.items()
            if t == tenant_id
            and k.revoked_at is None
            and (h == _hash_key(key_or_prefix) if whole else k.prefix == key_or_prefix)
        ]
        shown = key_or_prefix[:12] + ("…" if whole else "")
        if not live:
            raise ApiKeyNotFound(shown)
        if len(live) > 1:
            raise Conflict(f"{len(live)} live keys start with {shown}: give the whole key")
        [digest] = live
        revoked = dataclasses.replace(self._keys[digest][1], revoked_at=self._clock())
        self._keys[digest] = (tenant_id, revoked)
        del self._store.key_hashes[digest]
        return revoked

    async def authenticate(self, api_key: str) -> UUID | None:
        return self._store.key_hashes.get(_hash_key(api_key))

    async def get(self, tenant_id: UUID) -> Tenant | None:
        return self._store.tenants.get(tenant_id)

    async def find_by_name(self, name: str) -> Tenant | None:
        return next((t for t in self._store.tenants.values() if t.name == name), None)


class FakeColumnReader:
    """The columns built from the unit's objects, as ``load_histories`` reads them."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    async def read(self) -> DealColumns:
        from pie.services.histories import histories_of

        return from_histories(await histories_of(self._uow), identity=stream_identity)
