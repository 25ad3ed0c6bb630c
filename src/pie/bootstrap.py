"""The one place that builds the real objects from Settings, and runs the schema migrations
for the entrypoints (the CLI reaches the database adapters only through here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.config import Settings
from pie.ports.extractor import Extractor
from pie.ports.uow import TenantDirectory, UnitOfWork
from pie.services.model_cache import ModelCache

if TYPE_CHECKING:
    from pie.services.plans_intel import NarrativeWriter


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

    def extractor(self, *, seller_domains: tuple[str, ...] = ()) -> Extractor:
        """The conversation extractor (docs/intelligence-workflow.md): the LLM backend when
        ``PIE_LLM_MODEL`` is set (it falls back to the offline one on any failure), else the
        offline backend; told which email domains are the seller's."""
        from pie.intelligence.lexicon import ExtractorConfig
        from pie.intelligence.llm import build_extractor

        return build_extractor(ExtractorConfig(seller_domains=seller_domains))

    def narrator(self) -> NarrativeWriter | None:
        """Who writes plan narratives: an LLM when ``PIE_LLM_MODEL`` is set, else None (they
        are assembled offline)."""
        from pie.intelligence.llm import LlmSettings
        from pie.services.plans_intel import LlmNarrative

        settings = LlmSettings.from_env()
        return LlmNarrative(settings) if settings is not None else None


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
