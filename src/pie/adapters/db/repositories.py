"""SQL implementations of the repository ports (pie.ports.repositories).

Every statement filters by the unit of work's tenant, also on PostgreSQL where row-level
security filters again: given another tenant's id, a repository finds nothing, changes nothing
and deletes nothing. Repositories never commit.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

import orjson
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CursorResult,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db import mapping
from pie.adapters.db.bulk import insert_rows, upsert_rows
from pie.adapters.db.tables import (
    AccountRow,
    ActivityRow,
    ContactRow,
    DealRow,
    ExternalRefRow,
    StageTransitionRow,
    StakeholderRow,
)
from pie.adapters.db.writes import TableSpec, Writer
from pie.domain.dedup import MATCH_WINDOW
from pie.domain.errors import (
    AccountNotFound,
    Conflict,
    DealNotFound,
    InvalidInput,
    NotFound,
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
)
from pie.domain.ownership import PIE
from pie.domain.stages import CLOSED_STAGES
from pie.ports.repositories import Carried, DealFilter, UpsertCounts

T = TypeVar("T")

ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]
CONTACTS: Table = ContactRow.__table__  # type: ignore[assignment]
STAKEHOLDERS: Table = StakeholderRow.__table__  # type: ignore[assignment]
DEALS: Table = DealRow.__table__  # type: ignore[assignment]
ACTIVITIES: Table = ActivityRow.__table__  # type: ignore[assignment]
TRANSITIONS: Table = StageTransitionRow.__table__  # type: ignore[assignment]
REFS: Table = ExternalRefRow.__table__  # type: ignore[assignment]

_CLOSED = [str(s) for s in CLOSED_STAGES]
_IN_CHUNK = 1000  # ids per IN (...) list
_PG_RESOLVE = text(
    "SELECT r.external_id, r.entity_id, r.digest FROM unnest(:ids) AS w(external_id)"
    " JOIN external_refs r ON r.tenant_id = :tenant AND r.kind = :kind"
    " AND r.source = :source AND r.external_id = w.external_id"
).bindparams(bindparam("ids", type_=ARRAY(String())))

_SQLITE_RESOLVE = (
    text(
        "SELECT r.external_id, r.entity_id, r.digest FROM external_refs AS r"
        " WHERE r.tenant_id = :tenant AND r.kind = :kind AND r.source = :source"
        " AND r.external_id IN (SELECT value FROM json_each(:ids))"
    )
    .bindparams(bindparam("tenant", type_=Uuid()), bindparam("ids", type_=String()))
    .columns(REFS.c.external_id, REFS.c.entity_id, REFS.c.digest)
)


def _rowcount(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


class _SqlRepository(Generic[T]):
    """get / add / update / delete / upsert_many / iter_all over one table keyed by ``id``.
    Writes go through the unit of work's ``Writer`` (ownership, versions, change feed); reads
    fill ``external_ids`` from the external refs for kinds that have them."""

    def __init__(
        self,
        session: AsyncSession,
        tenant_id: UUID,
        *,
        writer: Writer,
        spec: TableSpec[T],
        from_row: Callable[[mapping.Row], T],
        not_found: type[NotFound] = NotFound,
        with_refs: bool = False,
    ) -> None:
        self._session, self._tenant, self._writer = session, tenant_id, writer
        self._spec, self._table, self._from_row = spec, spec.table, from_row
        self._not_found, self._with_refs = not_found, with_refs
        # what a record is made of: the store's provenance is the writer's (and provenance()'s)
        self._columns = [c for c in self._table.c if c.name != "provenance"]

    @property
    def spec(self) -> TableSpec[T]:
        """How the writer writes this repository's table."""
        return self._spec

    @property
    def _mine(self) -> ColumnElement[bool]:
        return self._table.c.tenant_id == self._tenant

    async def _objects(self, rows: Sequence[mapping.Row]) -> builtins.list[T]:
        items = [self._from_row(r) for r in rows]
        if self._with_refs and items:
            refs = await _refs_of(self._session, self._tenant, self._spec.kind, items)
            for item in items:
                item.external_ids = refs.get(item.id, {})  # type: ignore[attr-defined]
        return items

    async def _select(
        self, *where: ColumnElement[bool], order_by: Sequence[Any] = ()
    ) -> builtins.list[T]:
        rows = await self._session.execute(
            select(*self._columns).where(self._mine, *where).order_by(*order_by)
        )
        return await self._objects(rows.mappings().all())

    async def get(self, ident: UUID) -> T | None:
        found = await self._select(self._table.c.id == ident)
        return found[0] if found else None

    async def add(self, item: T, *, origin: str = PIE) -> None:
        ident = item.id  # type: ignore[attr-defined]
        if await self._session.scalar(select(self._table.c.id).where(self._table.c.id == ident)):
            raise Conflict(f"{self._table.name} {ident} exists already")
        try:
            await self._writer.write(self._spec, [item], origin=origin)
        except IntegrityError as exc:
            raise Conflict(
                f"{self._table.name} {ident} exists already or refers to a missing record"
            ) from exc

    async def update(
        self,
        item: T,
        *,
        origin: str = PIE,
        expected_version: int | None = None,
        fields: Carried = None,
    ) -> UpsertCounts:
        try:
            return await self._writer.write(
                self._spec,
                [item],
                origin=origin,
                fields=[fields],
                expected_version=expected_version,
                must_exist=True,
            )
        except NotFound:
            raise self._not_found(item.id) from None  # type: ignore[attr-defined]

    async def delete(self, ident: UUID, *, origin: str = PIE) -> bool:
        columns = [self._table.c.id]
        if self._spec.versioned:
            columns.append(self._table.c.version)
        result = await self._session.execute(
            delete(self._table).where(self._mine, self._table.c.id == ident).returning(*columns)
        )
        row = result.first()
        if row is None:
            return False
        version = int(row[1]) + 1 if self._spec.versioned else 1
        await self._writer.deleted(self._spec.kind, ident, version, origin)
        return True

    async def upsert_many(
        self,
        items: Sequence[T],
        *,
        origin: str = PIE,
        fields: Sequence[Carried] | None = None,
    ) -> UpsertCounts:
        return await self._writer.write(self._spec, items, origin=origin, fields=fields)

    async def provenance(self, ident: UUID) -> dict[str, builtins.list[str]]:
        if not self._spec.versioned:
            return {}
        found = await self._session.scalar(
            select(self._table.c.provenance).where(self._mine, self._table.c.id == ident)
        )
        return dict(found or {})

    async def iter_all(self, *, batch_size: int = 5000) -> AsyncIterator[Sequence[T]]:
        last: UUID | None = None
        while True:
            stmt = select(*self._columns).where(self._mine).order_by(self._table.c.id)
            if last is not None:
                stmt = stmt.where(self._table.c.id > last)
            rows = (await self._session.execute(stmt.limit(batch_size))).mappings().all()
            if not rows:
                return
            yield await self._objects(rows)
            last = rows[-1]["id"]
            if len(rows) < batch_size:
                return


async def _refs_of(
    session: AsyncSession, tenant_id: UUID, kind: EntityKind, items: Sequence[Any]
) -> dict[UUID, dict[str, str]]:
    ids = [item.id for item in items]
    out: dict[UUID, dict[str, str]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            select(REFS.c.entity_id, REFS.c.source, REFS.c.external_id, REFS.c.digest).where(
                REFS.c.tenant_id == tenant_id,
                REFS.c.kind == str(kind),
                REFS.c.entity_id.in_(ids[start : start + _IN_CHUNK]),
            )
        )
        for entity_id, source, external_id, digest in rows:
            known = out.setdefault(entity_id, {})
            if digest != MERGED or source not in known:  # its own id before a merged one
                known[source] = external_id
    return out


class SqlAccountRepository(_SqlRepository[Account]):
    def __init__(self, session: AsyncSession, tenant_id: UUID, writer: Writer) -> None:
        super().__init__(
            session,
            tenant_id,
            writer=writer,
            spec=TableSpec(ACCOUNTS, EntityKind.ACCOUNT, mapping.account_to_row, versioned=True),
            from_row=mapping.account_from_row,
            not_found=AccountNotFound,
            with_refs=True,
        )

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Account]:
        rows = await self._session.execute(
            select(*self._columns)
            .where(self._mine)
            .order_by(ACCOUNTS.c.name, ACCOUNTS.c.id)
            .limit(limit)
            .offset(offset)
        )
        return await self._objects(rows.mappings().all())

    async def count(self) -> int:
        total = await self._session.scalar(
            select(func.count()).select_from(ACCOUNTS).where(self._mine)
        )
        return int(total or 0)

    async def delete(self, ident: UUID, *, origin: str = PIE) -> bool:
        # The account's own stakeholders go with it; a deal's stakeholders only lose the link
        # (the foreign key sets it NULL).
        await self._session.execute(
            delete(STAKEHOLDERS).where(
                STAKEHOLDERS.c.tenant_id == self._tenant,
                STAKEHOLDERS.c.account_id == ident,
                STAKEHOLDERS.c.deal_id.is_(None),
            )
        )
        return await super().delete(ident, origin=origin)


class SqlContactRepository(_SqlRepository[Contact]):
    def __init__(self, session: AsyncSession, tenant_id: UUID, writer: Writer) -> None:
        super().__init__(
            session,
            tenant_id,
            writer=writer,
            spec=TableSpec(CONTACTS, EntityKind.CONTACT, mapping.contact_to_row, versioned=True),
            from_row=mapping.contact_from_row,
            with_refs=True,
        )

    async def for_account(self, account_id: UUID) -> Sequence[Contact]:
        return await self._select(
            CONTACTS.c.account_id == account_id, order_by=(CONTACTS.c.name, CONTACTS.c.id)
        )


class SqlStakeholderRepository(_SqlRepository[Stakeholder]):
    def __init__(self, session: AsyncSession, tenant_id: UUID, writer: Writer) -> None:
        super().__init__(
            session,
            tenant_id,
            writer=writer,
            spec=TableSpec(
                STAKEHOLDERS, EntityKind.STAKEHOLDER, mapping.stakeholder_to_row, versioned=True
            ),
            from_row=mapping.stakeholder_from_row,
        )

    async def for_deal(self, deal_id: UUID) -> Sequence[Stakeholder]:
        return await self._select(STAKEHOLDERS.c.deal_id == deal_id, order_by=(STAKEHOLDERS.c.id,))

    async def for_account(self, account_id: UUID) -> Sequence[Stakeholder]:
        return await self._select(
            STAKEHOLDERS.c.account_id == account_id, order_by=(STAKEHOLDERS.c.id,)
        )


def _deal_filter(flt: DealFilter) -> builtins.list[ColumnElement[bool]]:
    where: builtins.list[ColumnElement[bool]] = []
    if flt.stages:
        where.append(DEALS.c.stage.in_([str(s) for s in flt.stages]))
    if flt.account_id is not None:
        where.append(DEALS.c.account_id == flt.account_id)
    if flt.is_open is True:
        where.append(DEALS.c.stage.not_in(_CLOSED))
    elif flt.is_open is False:
        where.append(DEALS.c.stage.in_(_CLOSED))
    if flt.name_contains:
        where.append(func.lower(DEALS.c.name).contains(flt.name_contains.lower(), autoescape=True))
    return where


class SqlDealRepository(_SqlRepository[Deal]):
    def __init__(self, session: AsyncSession, tenant_id: UUID, writer: Writer) -> None:
        super().__init__(
            session,
            tenant_id,
            writer=writer,
            spec=TableSpec(DEALS, EntityKind.DEAL, mapping.deal_to_row, versioned=True),
            from_row=mapping.deal_from_row,
            not_found=DealNotFound,
            with_refs=True,
        )

    async def list(
        self, flt: DealFilter = DealFilter(), *, limit: int = 100, offset: int = 0
    ) -> Sequence[Deal]:
        rows = await self._session.execute(
            select(*self._columns)
            .where(self._mine, *_deal_filter(flt))
            .order_by(DEALS.c.created_at.desc(), DEALS.c.id)
            .limit(limit)
            .offset(offset)
        )
        return await self._objects(rows.mappings().all())

    async def count(self, flt: DealFilter = DealFilter()) -> int:
        total = await self._session.scalar(
            select(func.count()).select_from(DEALS).where(self._mine, *_deal_filter(flt))
        )
        return int(total or 0)

    async def get_many(self, idents: Sequence[UUID]) -> dict[UUID, Deal]:
        wanted = list(dict.fromkeys(idents))
        found: dict[UUID, Deal] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            for deal in await self._select(DEALS.c.id.in_(wanted[start : start + _IN_CHUNK])):
                found[deal.id] = deal
        return found

    async def find_matching(
        self, *, account_id: UUID, product_line: str | None, expected_close: date | None
    ) -> Deal | None:
        where = [DEALS.c.account_id == account_id, DEALS.c.stage.not_in(_CLOSED)]
        if product_line:
            where.append(DEALS.c.product_line == product_line)
        else:
            where.append(DEALS.c.product_line.is_(None) | (DEALS.c.product_line == ""))
        if expected_close is not None:
            where.append(
                DEALS.c.expected_close.is_(None)
                | DEALS.c.expected_close.between(
                    expected_close - MATCH_WINDOW, expected_close + MATCH_WINDOW
                )
            )
        candidates = await self._select(*where)

        def distance(d: Deal) -> int:
            if d.expected_close is None or expected_close is None:
                return MATCH_WINDOW.days + 1
            return abs((d.expected_close - expected_close).days)

        return min(candidates, key=lambda d: (distance(d), d.id), default=None)


class SqlActivityRepository(_SqlRepository[Activity]):
    def __init__(self, session: AsyncSession, tenant_id: UUID, writer: Writer) -> None:
        super().__init__(
            session,
            tenant_id,
            writer=writer,
            spec=TableSpec(
                ACTIVITIES, EntityKind.ACTIVITY, mapping.activity_to_row, versioned=False
            ),
            from_row=mapping.activity_from_row,
            with_refs=True,
        )

    async def for_deal(self, deal_id: UUID) -> Sequence[Activity]:
        return await self._select(
            ACTIVITIES.c.deal_id == deal_id, order_by=(ACTIVITIES.c.occurred_at, ACTIVITIES.c.id)
        )


class SqlStageTransitionRepository(_SqlRepository[StageTransition]):
    def __init__(self, session: AsyncSession, tenant_id: UUID, writer: Writer) -> None:
        super().__init__(
            session,
            tenant_id,
            writer=writer,
            spec=TableSpec(
                TRANSITIONS, EntityKind.STAGE_TRANSITION, mapping.transition_to_row, versioned=False
            ),
            from_row=mapping.transition_from_row,
        )

    async def for_deal(self, deal_id: UUID) -> Sequence[StageTransition]:
        return await self._select(
            TRANSITIONS.c.deal_id == deal_id, order_by=(TRANSITIONS.c.at, TRANSITIONS.c.id)
        )


class SqlExternalRefRepository:
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        self._session, self._tenant = session, tenant_id

    async def resolve(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, UUID]:
        return {
            ext: ident
            for ext, (ident, _) in (await self._lookup(kind, source, external_ids)).items()
        }

    async def any_from(self, source: str) -> bool:
        found = await self._session.scalar(
            select(REFS.c.kind)
            .where(REFS.c.tenant_id == self._tenant, REFS.c.source == source)
            .limit(1)
        )
        return found is not None

    async def of_source(self, kind: EntityKind, source: str) -> dict[str, UUID]:
        rows = await self._session.execute(
            select(REFS.c.external_id, REFS.c.entity_id).where(
                REFS.c.tenant_id == self._tenant,
                REFS.c.kind == str(kind),
                REFS.c.source == source,
            )
        )
        return {str(ext): ident for ext, ident in rows}

    async def digests(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, str]:
        found = await self._lookup(kind, source, external_ids)
        return {ext: digest for ext, (_, digest) in found.items() if digest is not None}

    async def _lookup(
        self, kind: EntityKind, source: str, external_ids: Sequence[str]
    ) -> dict[str, tuple[UUID, str | None]]:
        wanted = list(dict.fromkeys(external_ids))
        found: dict[str, tuple[UUID, str | None]] = {}
        if not wanted:
            return found
        conn = await self._session.connection()
        if conn.dialect.name == "postgresql":
            # One join against the unnested list, not IN lists: inside a big import's
            # transaction the table has no statistics for its new rows, and with an IN list the
            # planner scans every ref of the kind per query, comparing each with the whole list.
            rows = await self._session.execute(
                _PG_RESOLVE,
                {"tenant": self._tenant, "kind": str(kind), "source": source, "ids": wanted},
            )
            return {str(ext): (ident, digest) for ext, ident, digest in rows}
        if not any("\x00" in ext for ext in wanted):  # SQLite's JSON cuts text at a NUL
            rows = await self._session.execute(
                _SQLITE_RESOLVE,
                {
                    "tenant": self._tenant,
                    "kind": str(kind),
                    "source": source,
                    "ids": orjson.dumps(wanted).decode(),
                },
            )
            return {str(ext): (ident, digest) for ext, ident, digest in rows}
        for start in range(0, len(wanted), _IN_CHUNK):
            rows = await self._session.execute(
                select(REFS.c.external_id, REFS.c.entity_id, REFS.c.digest).where(
                    REFS.c.tenant_id == self._tenant,
                    REFS.c.kind == str(kind),
                    REFS.c.source == source,
                    REFS.c.external_id.in_(wanted[start : start + _IN_CHUNK]),
                )
            )
            for ext, ident, digest in rows:
                found[ext] = (ident, digest)
        return found

    def _unique(self, refs: Sequence[ExternalRef]) -> builtins.list[ExternalRef]:
        """``refs`` by key (a later duplicate wins), each checked to be the tenant's."""
        unique = {mapping.ref_key(ref): ref for ref in refs}
        for ref in unique.values():
            if ref.tenant_id != self._tenant:
                raise InvalidInput(
                    f"external ref {ref.source}/{ref.external_id} belongs to another tenant",
                    field="tenant_id",
                )
        return list(unique.values())

    def new_rows(self, refs: Sequence[ExternalRef]) -> builtins.list[dict[str, Any]]:
        """The rows ``add_many`` inserts for ``refs``."""
        return [mapping.ref_to_row(ref) for ref in self._unique(refs)]

    async def add_many(self, refs: Sequence[ExternalRef]) -> None:
        await insert_rows(self._session, REFS, self.new_rows(refs))

    async def upsert_many(self, refs: Sequence[ExternalRef]) -> UpsertCounts:
        """Only refs that are new, point elsewhere now or bring a new digest are written."""
        groups: dict[tuple[EntityKind, str], list[ExternalRef]] = {}
        for ref in self._unique(refs):
            groups.setdefault((ref.kind, ref.source), []).append(ref)
        created: list[ExternalRef] = []
        moved: list[ExternalRef] = []
        for (kind, source), group in groups.items():
            known = await self._lookup(kind, source, [ref.external_id for ref in group])
            for ref in group:
                was = known.get(ref.external_id)
                if was is None:
                    created.append(ref)
                elif was[0] != ref.entity_id:
                    moved.append(ref if ref.digest is not None else replace(ref, digest=was[1]))
                elif ref.digest is not None and ref.digest != was[1]:
                    moved.append(ref)
        # The new ones were just looked up in this transaction: plainly inserted (one created
        # by someone else meanwhile is a Conflict, as for records).
        await insert_rows(self._session, REFS, [mapping.ref_to_row(ref) for ref in created])
        await upsert_rows(
            self._session,
            REFS,
            [mapping.ref_to_row(ref) for ref in moved],
            key=("tenant_id", "kind", "source", "external_id"),
        )
        return UpsertCounts(len(created), len(moved), len(refs) - len(created) - len(moved))

    async def for_entity(self, kind: EntityKind, entity_id: UUID) -> Sequence[ExternalRef]:
        rows = await self._session.execute(
            select(REFS)
            .where(
                REFS.c.tenant_id == self._tenant,
                REFS.c.kind == str(kind),
                REFS.c.entity_id == entity_id,
            )
            .order_by(REFS.c.source, REFS.c.external_id)
        )
        return [mapping.ref_from_row(r) for r in rows.mappings()]
