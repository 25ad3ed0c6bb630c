"""SQL implementations of the repository ports (pie.ports.repositories).

Every statement filters by the unit of work's tenant, also on PostgreSQL where row-level
security filters again: given another tenant's id, a repository finds nothing, changes nothing
and deletes nothing. Repositories never commit.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CursorResult,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db import mapping
from pie.adapters.db.bulk import upsert_items
from pie.adapters.db.tables import (
    AccountRow,
    ActivityRow,
    ContactRow,
    DealRow,
    ExternalRefRow,
    StageTransitionRow,
    StakeholderRow,
)
from pie.domain.dedup import MATCH_WINDOW
from pie.domain.errors import (
    AccountNotFound,
    Conflict,
    DealNotFound,
    InvalidInput,
    NotFound,
)
from pie.domain.model import (
    Account,
    Activity,
    Contact,
    Deal,
    EntityKind,
    ExternalRef,
    StageTransition,
    Stakeholder,
)
from pie.domain.stages import CLOSED_STAGES
from pie.ports.repositories import DealFilter, UpsertCounts

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
    "SELECT r.external_id, r.entity_id FROM unnest(:ids) AS w(external_id)"
    " JOIN external_refs r ON r.tenant_id = :tenant AND r.kind = :kind"
    " AND r.source = :source AND r.external_id = w.external_id"
).bindparams(bindparam("ids", type_=ARRAY(String())))


def _rowcount(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


class _SqlRepository(Generic[T]):
    """get / add / update / delete / upsert_many / iter_all over one table keyed by ``id``."""

    def __init__(
        self,
        session: AsyncSession,
        tenant_id: UUID,
        *,
        table: Table,
        to_row: Callable[[T], dict[str, Any]],
        from_row: Callable[[mapping.Row], T],
        not_found: type[NotFound] = NotFound,
    ) -> None:
        self._session, self._tenant = session, tenant_id
        self._table, self._to_row, self._from_row = table, to_row, from_row
        self._not_found = not_found

    @property
    def _mine(self) -> ColumnElement[bool]:
        return self._table.c.tenant_id == self._tenant

    def _row(self, item: T) -> dict[str, Any]:
        row = self._to_row(item)
        if row["tenant_id"] != self._tenant:
            raise InvalidInput(
                f"{self._table.name} {row['id']} belongs to another tenant",
                field="tenant_id",
            )
        return row

    async def _select(
        self, *where: ColumnElement[bool], order_by: Sequence[Any] = ()
    ) -> builtins.list[T]:
        rows = await self._session.execute(
            select(self._table).where(self._mine, *where).order_by(*order_by)
        )
        return [self._from_row(r) for r in rows.mappings()]

    async def get(self, ident: UUID) -> T | None:
        found = await self._select(self._table.c.id == ident)
        return found[0] if found else None

    async def add(self, item: T) -> None:
        row = self._row(item)
        try:
            await self._session.execute(insert(self._table).values(row))
        except IntegrityError as exc:
            raise Conflict(
                f"{self._table.name} {row['id']} exists already or refers to a missing record"
            ) from exc

    async def update(self, item: T) -> None:
        row = self._row(item)
        values = {k: v for k, v in row.items() if k not in ("id", "tenant_id")}
        result = await self._session.execute(
            update(self._table).where(self._mine, self._table.c.id == row["id"]).values(values)
        )
        if _rowcount(result) == 0:
            raise self._not_found(row["id"])

    async def delete(self, ident: UUID) -> bool:
        result = await self._session.execute(
            delete(self._table).where(self._mine, self._table.c.id == ident)
        )
        return _rowcount(result) > 0

    async def upsert_many(self, items: Sequence[T]) -> UpsertCounts:
        for item in items:
            if item.tenant_id != self._tenant:  # type: ignore[attr-defined]
                raise InvalidInput(
                    f"{self._table.name} {item.id} belongs to another tenant",  # type: ignore[attr-defined]
                    field="tenant_id",
                )
        return await upsert_items(
            self._session,
            self._table,
            items,
            to_row=self._to_row,
            to_pg=mapping.PG_RECORDS[self._table.name],
            pg_columns=mapping.PG_COLUMNS[self._table.name],
        )

    async def iter_all(self, *, batch_size: int = 5000) -> AsyncIterator[Sequence[T]]:
        last: UUID | None = None
        while True:
            stmt = select(self._table).where(self._mine).order_by(self._table.c.id)
            if last is not None:
                stmt = stmt.where(self._table.c.id > last)
            rows = (await self._session.execute(stmt.limit(batch_size))).mappings().all()
            if not rows:
                return
            yield [self._from_row(r) for r in rows]
            last = rows[-1]["id"]
            if len(rows) < batch_size:
                return


class SqlAccountRepository(_SqlRepository[Account]):
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        super().__init__(
            session,
            tenant_id,
            table=ACCOUNTS,
            to_row=mapping.account_to_row,
            from_row=mapping.account_from_row,
            not_found=AccountNotFound,
        )

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Account]:
        rows = await self._session.execute(
            select(ACCOUNTS)
            .where(self._mine)
            .order_by(ACCOUNTS.c.name, ACCOUNTS.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [mapping.account_from_row(r) for r in rows.mappings()]

    async def count(self) -> int:
        total = await self._session.scalar(
            select(func.count()).select_from(ACCOUNTS).where(self._mine)
        )
        return int(total or 0)

    async def delete(self, ident: UUID) -> bool:
        # The account's own stakeholders go with it; a deal's stakeholders only lose the link
        # (the foreign key sets it NULL).
        await self._session.execute(
            delete(STAKEHOLDERS).where(
                STAKEHOLDERS.c.tenant_id == self._tenant,
                STAKEHOLDERS.c.account_id == ident,
                STAKEHOLDERS.c.deal_id.is_(None),
            )
        )
        return await super().delete(ident)


class SqlContactRepository(_SqlRepository[Contact]):
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        super().__init__(
            session,
            tenant_id,
            table=CONTACTS,
            to_row=mapping.contact_to_row,
            from_row=mapping.contact_from_row,
        )

    async def for_account(self, account_id: UUID) -> Sequence[Contact]:
        return await self._select(
            CONTACTS.c.account_id == account_id, order_by=(CONTACTS.c.name, CONTACTS.c.id)
        )


class SqlStakeholderRepository(_SqlRepository[Stakeholder]):
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        super().__init__(
            session,
            tenant_id,
            table=STAKEHOLDERS,
            to_row=mapping.stakeholder_to_row,
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
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        super().__init__(
            session,
            tenant_id,
            table=DEALS,
            to_row=mapping.deal_to_row,
            from_row=mapping.deal_from_row,
            not_found=DealNotFound,
        )

    async def list(
        self, flt: DealFilter = DealFilter(), *, limit: int = 100, offset: int = 0
    ) -> Sequence[Deal]:
        rows = await self._session.execute(
            select(DEALS)
            .where(self._mine, *_deal_filter(flt))
            .order_by(DEALS.c.created_at.desc(), DEALS.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [mapping.deal_from_row(r) for r in rows.mappings()]

    async def count(self, flt: DealFilter = DealFilter()) -> int:
        total = await self._session.scalar(
            select(func.count()).select_from(DEALS).where(self._mine, *_deal_filter(flt))
        )
        return int(total or 0)

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
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        super().__init__(
            session,
            tenant_id,
            table=ACTIVITIES,
            to_row=mapping.activity_to_row,
            from_row=mapping.activity_from_row,
        )

    async def for_deal(self, deal_id: UUID) -> Sequence[Activity]:
        return await self._select(
            ACTIVITIES.c.deal_id == deal_id, order_by=(ACTIVITIES.c.occurred_at, ACTIVITIES.c.id)
        )


class SqlStageTransitionRepository(_SqlRepository[StageTransition]):
    def __init__(self, session: AsyncSession, tenant_id: UUID) -> None:
        super().__init__(
            session,
            tenant_id,
            table=TRANSITIONS,
            to_row=mapping.transition_to_row,
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
        wanted = list(dict.fromkeys(external_ids))
        found: dict[str, UUID] = {}
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
            return {str(ext): ident for ext, ident in rows}
        for start in range(0, len(wanted), _IN_CHUNK):
            rows = await self._session.execute(
                select(REFS.c.external_id, REFS.c.entity_id).where(
                    REFS.c.tenant_id == self._tenant,
                    REFS.c.kind == str(kind),
                    REFS.c.source == source,
                    REFS.c.external_id.in_(wanted[start : start + _IN_CHUNK]),
                )
            )
            for ext, ident in rows:
                found[ext] = ident
        return found

    async def upsert_many(self, refs: Sequence[ExternalRef]) -> UpsertCounts:
        for ref in refs:
            if ref.tenant_id != self._tenant:
                raise InvalidInput(
                    f"external ref {ref.source}/{ref.external_id} belongs to another tenant",
                    field="tenant_id",
                )
        return await upsert_items(
            self._session,
            REFS,
            refs,
            to_row=mapping.ref_to_row,
            to_pg=mapping.ref_to_pg,
            pg_columns=mapping.PG_COLUMNS["external_refs"],
            key=("tenant_id", "kind", "source", "external_id"),
            key_of=mapping.ref_key,
        )

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
