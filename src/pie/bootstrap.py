"""The one place that builds the real objects from Settings, and runs the schema migrations
for the entrypoints (the CLI reaches the database adapters only through here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.config import Settings
from pie.domain.errors import InvalidInput
from pie.ports.uow import TenantDirectory, UnitOfWork
from pie.services.model_cache import ModelCache
from pie.simulation.engine import IN_PROCESS, Engine


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tenants: TenantDirectory
    #: fitted process models per tenant, valid until the tenant's next change
    models: ModelCache = field(default_factory=ModelCache)

    def uow(self, tenant_id: UUID, *, writes: bool = False) -> UnitOfWork:
        """``writes``: the unit reads, then writes (an import, a policy): on SQLite it waits
        for another writer before it begins, instead of failing half-way."""
        return SqlUnitOfWork(self.sessions, tenant_id, writes=writes)

    async def aclose(self) -> None:
        await self.engine.dispose()


def build(settings: Settings) -> Container:
    engine = make_engine(settings.effective_database_url, busy_timeout=settings.sqlite_busy_timeout)
    sessions = make_sessions(engine)
    return Container(
        settings,
        engine,
        sessions,
        SqlTenantDirectory(sessions),
        ModelCache(max_entries=settings.model_cache_size),
    )


# --- the schema -----------------------------------------------------------------------------
# Migrations run as the tables' owner (``admin`` URL), except the embedded SQLite store, which
# migrates itself on first use. Alembic is imported only when a migration runs.


def upgrade_schema(settings: Settings, revision: str = "head") -> str | None:
    """Apply the migrations up to ``revision``; returns the revision the database is now at."""
    from pie.adapters.db import migrate

    url = settings.effective_admin_database_url
    migrate.upgrade(url, app_role=settings.app_role, revision=revision)
    return migrate.current_revision(url)


def downgrade_schema(settings: Settings, revision: str) -> str | None:
    """Revert the migrations down to ``revision`` (``base`` removes every table)."""
    from pie.adapters.db import migrate

    url = settings.effective_admin_database_url
    migrate.downgrade(url, app_role=settings.app_role, revision=revision)
    return migrate.current_revision(url)


def schema_revision(settings: Settings) -> str | None:
    """The revision the database is at, or None for a database PIE never migrated."""
    from pie.adapters.db import migrate

    return migrate.current_revision(settings.effective_admin_database_url)


def head_revision() -> str:
    """The newest schema revision this PIE knows."""
    from pie.adapters.db import migrate

    return migrate.head_revision()


def ensure_embedded_schema(settings: Settings) -> None:
    """The embedded SQLite store needs no setup: bring its schema up to date on first use.
    PostgreSQL is migrated explicitly by its owner with `pie db upgrade`."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        from pie.adapters.db import migrate

        migrate.upgrade(url, app_role=settings.app_role)


ENGINES = ("local", "dask")


@contextmanager
def simulation_engine(name: str = "local", scheduler: str | None = None) -> Iterator[Engine]:
    """Where simulations run: ``local`` (this process) or ``dask`` (the cluster at
    ``scheduler``, or a local Dask cluster without one)."""
    if name == "local":
        if scheduler:
            raise InvalidInput("--scheduler needs --engine dask", field="scheduler")
        yield IN_PROCESS
        return
    if name != "dask":
        raise InvalidInput(f"unknown engine {name!r}: use local or dask", field="engine")
    from pie.adapters.dask_engine import dask_engine

    with dask_engine(scheduler) as engine:
        yield engine
