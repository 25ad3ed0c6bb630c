"""The one place that builds the real objects from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.config import Settings
from pie.ports.uow import TenantDirectory, UnitOfWork
from pie.services.model_cache import ModelCache


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tenants: TenantDirectory
    #: fitted process models per tenant, valid until the tenant's next change
    models: ModelCache = field(default_factory=ModelCache)

    def uow(self, tenant_id: UUID) -> UnitOfWork:
        return SqlUnitOfWork(self.sessions, tenant_id)

    async def aclose(self) -> None:
        await self.engine.dispose()


def build(settings: Settings) -> Container:
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessions(engine)
    return Container(
        settings,
        engine,
        sessions,
        SqlTenantDirectory(sessions),
        ModelCache(max_entries=settings.model_cache_size),
    )
