"""Account and opportunity plans: versioned documents with optimistic concurrency.

A save names the version it read. Version 0 (no plan yet) inserts; a concurrent insert of the
same plan makes this one a no-op that raises StaleVersion (``ON CONFLICT DO NOTHING``), never an
overwrite. A later version updates only ``WHERE version = expected``; no row updated means
someone else wrote first, which raises StaleVersion too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel
from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert, ReturningUpdate

from pie.adapters.db.tables import AccountPlanRow, AccountRow, DealRow, OpportunityPlanRow
from pie.domain.errors import AccountNotFound, DealNotFound, InvalidInput, NotFound, StaleVersion
from pie.domain.plans import AccountPlan, AccountPlanData, OpportunityPlan, OpportunityPlanData

D = TypeVar("D", bound=BaseModel)
P = TypeVar("P")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlPlanRepository:
    def __init__(
        self,
        session: AsyncSession,
        tenant_id: UUID,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._session, self._tenant, self._clock = session, tenant_id, clock

    async def get_account_plan(self, account_id: UUID) -> AccountPlan | None:
        row = await self._get(AccountPlanRow.__table__, "account_id", account_id)  # type: ignore[arg-type]
        return account_plan_of(row) if row else None

    async def save_account_plan(
        self, account_id: UUID, data: AccountPlanData, *, expected_version: int
    ) -> AccountPlan:
        await self._require(AccountRow.__table__, account_id, AccountNotFound)  # type: ignore[arg-type]
        row = await self._save(
            AccountPlanRow.__table__,  # type: ignore[arg-type]
            "account_id",
            account_id,
            data,
            expected_version,
            "account plan",
        )
        return account_plan_of(row)

    async def get_opportunity_plan(self, deal_id: UUID) -> OpportunityPlan | None:
        row = await self._get(OpportunityPlanRow.__table__, "deal_id", deal_id)  # type: ignore[arg-type]
        return opportunity_plan_of(row) if row else None

    async def save_opportunity_plan(
        self, deal_id: UUID, data: OpportunityPlanData, *, expected_version: int
    ) -> OpportunityPlan:
        await self._require(DealRow.__table__, deal_id, DealNotFound)  # type: ignore[arg-type]
        row = await self._save(
            OpportunityPlanRow.__table__,  # type: ignore[arg-type]
            "deal_id",
            deal_id,
            data,
            expected_version,
            "opportunity plan",
        )
        return opportunity_plan_of(row)

    async def _require(self, table: Table, ident: UUID, error: type[NotFound]) -> None:
        found = await self._session.scalar(
            select(table.c.id).where(table.c.tenant_id == self._tenant, table.c.id == ident)
        )
        if found is None:
            raise error(ident)

    async def _get(self, table: Table, owner: str, ident: UUID) -> dict[str, Any] | None:
        row = (
            (
                await self._session.execute(
                    select(table).where(table.c.tenant_id == self._tenant, table.c[owner] == ident)
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    async def _save(
        self,
        table: Table,
        owner: str,
        ident: UUID,
        data: BaseModel,
        expected: int,
        what: str,
    ) -> dict[str, Any]:
        if expected < 0:
            raise InvalidInput("must be 0 or more", field="expected_version")
        document, now = data.model_dump(mode="json"), self._clock()
        stmt: ReturningInsert[Any] | ReturningUpdate[Any]
        if expected == 0:
            conn = await self._session.connection()
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            stmt = (
                insert(table)
                .values(
                    id=uuid4(),
                    tenant_id=self._tenant,
                    version=1,
                    data=document,
                    updated_at=now,
                    **{owner: ident},
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", owner])
                .returning(*table.c)
            )
        else:
            stmt = (
                update(table)
                .where(
                    table.c.tenant_id == self._tenant,
                    table.c[owner] == ident,
                    table.c.version == expected,
                )
                .values(version=expected + 1, data=document, updated_at=now)
                .returning(*table.c)
            )
        row = (await self._session.execute(stmt)).mappings().first()
        if row is None:
            current = await self._get(table, owner, ident)
            raise StaleVersion(what, ident, expected, current["version"] if current else 0)
        return dict(row)


def account_plan_of(row: dict[str, Any]) -> AccountPlan:
    return AccountPlan(
        id=row["id"],
        tenant_id=row["tenant_id"],
        account_id=row["account_id"],
        version=row["version"],
        data=AccountPlanData.model_validate(row["data"]),
        updated_at=row["updated_at"],
    )


def opportunity_plan_of(row: dict[str, Any]) -> OpportunityPlan:
    return OpportunityPlan(
        id=row["id"],
        tenant_id=row["tenant_id"],
        deal_id=row["deal_id"],
        version=row["version"],
        data=OpportunityPlanData.model_validate(row["data"]),
        updated_at=row["updated_at"],
    )
