"""The SQL unit of work: one session (one transaction at a time) of one tenant.

On PostgreSQL every transaction the session begins, including one begun after a ``commit()``
within the same unit of work, first runs ``set_config('pie.tenant_id', <tenant>, true)``: the
setting row-level security keys on, local to that transaction, so it never leaks to the next
user of the pooled connection.

On SQLite (one writer at a time) a unit of work made with ``writes=True`` begins every
transaction with ``BEGIN IMMEDIATE``: it waits (up to the engine's busy timeout) for another
writer to finish *before* it reads, so what it reads and what it writes belong to one state of
the store, and a long write such as an import never fails half-way on the lock. Other units of
work only read, or write one statement, and never wait for a reader (WAL). A lock that is still
held when the timeout runs out is a ``StoreBusy`` error that says what to do.
"""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from pie.adapters.db.batches import SqlRecordBatch
from pie.adapters.db.columns import SqlColumnReader
from pie.adapters.db.feeds import (
    SqlChangeFeed,
    SqlCursorRepository,
    SqlModelCache,
    SqlPolicyRepository,
)
from pie.adapters.db.intelligence import SqlIntelligenceRepository
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
from pie.adapters.db.sync_state import SqlSyncStateRepository
from pie.adapters.db.writes import TableSpec, Writer
from pie.domain.errors import StoreBusy
from pie.domain.model import EntityKind
from pie.ports.intelligence import IntelligenceRepository
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
from pie.ports.sync import SyncStateRepository

SET_TENANT = text("SELECT set_config('pie.tenant_id', :tenant, true)")


def bind_tenant(session: AsyncSession, tenant_id: UUID | None) -> None:
    """Make every transaction of ``session`` run as ``tenant_id`` for row-level security
    (PostgreSQL; a no-op elsewhere). None: no tenant, so no tenant row is visible."""
    value = "" if tenant_id is None else str(tenant_id)

    def set_tenant(_s: Session, _t: SessionTransaction, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(SET_TENANT, {"tenant": value})

    event.listen(session.sync_session, "after_begin", set_tenant)


def take_write_lock(session: AsyncSession) -> None:
    """On SQLite, begin each of ``session``'s transactions by taking the write lock."""

    def begin_immediate(_s: Session, _t: SessionTransaction, connection: Connection) -> None:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(session.sync_session, "after_begin", begin_immediate)


def is_locked(err: BaseException) -> bool:
    """Did SQLite give up waiting for another connection's lock?"""
    return isinstance(err, OperationalError) and "database is locked" in str(err.orig)


def store_busy() -> StoreBusy:
    return StoreBusy(
        "the store is busy: another process kept its SQLite database locked for writing "
        "longer than PIE waits (PIE_SQLITE_BUSY_TIMEOUT seconds, 60 by default); nothing was "
        "stored, run the command again once that process has finished (or raise the timeout)"
    )


class SqlUnitOfWork:
    """``async with SqlUnitOfWork(sessions, tenant_id) as uow: ...; await uow.commit()``.

    Leaving the block without ``commit()`` rolls back. The object may be entered again after
    it was left; each entry gets a fresh session. ``writes``: the unit reads and then writes
    (an import), so on SQLite each transaction takes the write lock when it begins.
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
    intel: IntelligenceRepository
    sync: SyncStateRepository
    columns: SqlColumnReader

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tenant_id: UUID,
        *,
        writes: bool = False,
    ) -> None:
        self.tenant_id = tenant_id
        self.writes = writes
        self._sessions = sessions
        self._session: AsyncSession | None = None

    @property
    def overlaps_writes(self) -> bool:
        bind = self._sessions.kw.get("bind")
        return bind is not None and bind.dialect.name == "postgresql"

    def batch(self, *, origin: str) -> SqlRecordBatch:
        return SqlRecordBatch(
            self.session,
            self.tenant_id,
            self._writer,
            self._specs,
            self._refs,
            origin=origin,
            postgres=self.overlaps_writes,
        )

    @property
    def session(self) -> AsyncSession:
        """The open session (for adapters that need a query the ports do not offer)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not entered: use `async with uow:`")
        return self._session

    async def __aenter__(self) -> Self:
        session = self._sessions()
        bind_tenant(session, self.tenant_id)
        if self.writes:
            take_write_lock(session)
        self._session, tenant = session, self.tenant_id
        writer = self._writer = Writer(session, tenant)
        accounts = self.accounts = SqlAccountRepository(session, tenant, writer)
        contacts = self.contacts = SqlContactRepository(session, tenant, writer)
        stakeholders = self.stakeholders = SqlStakeholderRepository(session, tenant, writer)
        deals = self.deals = SqlDealRepository(session, tenant, writer)
        activities = self.activities = SqlActivityRepository(session, tenant, writer)
        transitions = self.transitions = SqlStageTransitionRepository(session, tenant, writer)
        self._specs: dict[EntityKind, TableSpec[Any]] = {
            repo.spec.kind: repo.spec
            for repo in (accounts, contacts, stakeholders, deals, activities, transitions)
        }
        self.refs = self._refs = SqlExternalRefRepository(session, tenant)
        self.plans = SqlPlanRepository(session, tenant)
        self.cursors = SqlCursorRepository(session, tenant)
        self.changes = SqlChangeFeed(session, tenant)
        self.models = SqlModelCache(session, tenant)
        self.policy = SqlPolicyRepository(writer)
        self.intel = SqlIntelligenceRepository(session, tenant)
        self.sync = SqlSyncStateRepository(session, tenant)
        self.columns = SqlColumnReader(session, tenant)
        return self

    async def __aexit__(self, *exc: object) -> None:
        session, self._session = self.session, None
        try:
            await session.rollback()
        finally:
            await session.close()
        error = exc[1] if len(exc) > 1 else None
        if isinstance(error, BaseException) and is_locked(error):
            raise store_busy() from error

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except OperationalError as err:
            if is_locked(err):
                raise store_busy() from err
            raise

    async def rollback(self) -> None:
        await self.session.rollback()
