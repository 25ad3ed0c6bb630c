"""The SQL unit of work: one session (one transaction at a time) of one tenant.

On PostgreSQL every transaction the session begins, including one begun after a ``commit()``
within the same unit of work, first runs ``set_config('pie.tenant_id', <tenant>, true)``: the
setting row-level security keys on, local to that transaction, so it never leaks to the next
user of the pooled connection.
"""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from pie.adapters.db.feeds import (
    SqlChangeFeed,
    SqlCursorRepository,
    SqlModelCache,
    SqlPolicyRepository,
)
from pie.adapters.db.plans import SqlPlanRepository
from pie.adapters.db.repositories import (
    SqlAccountRepository,
    SqlActivityRepository,
    SqlContactRepository,
    SqlDealRepository,
    SqlExternalRefRepository,
    SqlStageTransitionRepository,
    SqlStakeholderRepository,
)
from pie.adapters.db.writes import Writer
from pie.ports.repositories import (
    AccountRepository,
    ActivityRepository,
    ChangeFeed,
    ContactRepository,
    CursorRepository,
    DealRepository,
    ExternalRefRepository,
    ModelCacheRepository,
    PlanRepository,
    PolicyRepository,
    StageTransitionRepository,
    StakeholderRepository,
)

SET_TENANT = text("SELECT set_config('pie.tenant_id', :tenant, true)")


def bind_tenant(session: AsyncSession, tenant_id: UUID | None) -> None:
    """Make every transaction of ``session`` run as ``tenant_id`` for row-level security
    (PostgreSQL; a no-op elsewhere). None: no tenant, so no tenant row is visible."""
    value = "" if tenant_id is None else str(tenant_id)

    def set_tenant(_s: Session, _t: SessionTransaction, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(SET_TENANT, {"tenant": value})

    event.listen(session.sync_session, "after_begin", set_tenant)


class SqlUnitOfWork:
    """``async with SqlUnitOfWork(sessions, tenant_id) as uow: ...; await uow.commit()``.

    Leaving the block without ``commit()`` rolls back. The object may be entered again after
    it was left; each entry gets a fresh session.
    """

    accounts: AccountRepository
    contacts: ContactRepository
    stakeholders: StakeholderRepository
    deals: DealRepository
    activities: ActivityRepository
    transitions: StageTransitionRepository
    refs: ExternalRefRepository
    plans: PlanRepository
    cursors: CursorRepository
    changes: ChangeFeed
    models: ModelCacheRepository
    policy: PolicyRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession], tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self._sessions = sessions
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The open session (for adapters that need a query the ports do not offer)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not entered: use `async with uow:`")
        return self._session

    async def __aenter__(self) -> Self:
        session = self._sessions()
        bind_tenant(session, self.tenant_id)
        self._session, tenant = session, self.tenant_id
        writer = Writer(session, tenant)
        self.accounts = SqlAccountRepository(session, tenant, writer)
        self.contacts = SqlContactRepository(session, tenant, writer)
        self.stakeholders = SqlStakeholderRepository(session, tenant, writer)
        self.deals = SqlDealRepository(session, tenant, writer)
        self.activities = SqlActivityRepository(session, tenant, writer)
        self.transitions = SqlStageTransitionRepository(session, tenant, writer)
        self.refs = SqlExternalRefRepository(session, tenant)
        self.plans = SqlPlanRepository(session, tenant)
        self.cursors = SqlCursorRepository(session, tenant)
        self.changes = SqlChangeFeed(session, tenant)
        self.models = SqlModelCache(session, tenant)
        self.policy = SqlPolicyRepository(writer)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        session, self._session = self.session, None
        try:
            await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
