"""The one place that builds the real objects from Settings, and runs the schema migrations
for the entrypoints (the CLI reaches the database adapters only through here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pie.adapters.db.connections import SqlConnectionStore, SqlSyncSchedule
from pie.adapters.db.credentials import SqlCredentialStore
from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.adapters.locks import LocalSyncLock, PostgresSyncLock
from pie.adapters.secrets import LazySecretBox, keys_from
from pie.config import Settings
from pie.domain.errors import InvalidInput
from pie.ports.connections import ConnectionStore, SyncSchedule
from pie.ports.credentials import CredentialStore
from pie.ports.extractor import Extractor
from pie.ports.jobs import JobQueue, SyncLock
from pie.ports.uow import TenantDirectory, UnitOfWork
from pie.services.connections import SyncDeps
from pie.services.model_cache import ModelCache
from pie.services.notion import NotionDeps

if TYPE_CHECKING:
    from pie.services.conversations import ImportHook
    from pie.services.plans_intel import NarrativeWriter
from pie.simulation.engine import IN_PROCESS, Engine

#: Extractors a container keeps (one per set of seller domains an API caller names).
EXTRACTORS_KEPT = 16


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tenants: TenantDirectory
    #: fitted process models per tenant, valid until the tenant's next change
    models: ModelCache = field(default_factory=ModelCache)
    #: seals stored credentials; its key is read (or the key file made) on first use
    secret_box: LazySecretBox | None = None
    #: the job queue and sync lock, made on first use
    _jobs: dict[str, Any] = field(default_factory=dict, repr=False)

    def uow(self, tenant_id: UUID, *, writes: bool = False) -> UnitOfWork:
        """``writes``: the unit reads, then writes (an import, a policy): on SQLite it waits
        for another writer before it begins, instead of failing half-way."""
        return SqlUnitOfWork(self.sessions, tenant_id, writes=writes)

    def credentials(self, tenant_id: UUID) -> CredentialStore:
        """The tenant's encrypted credentials (each call its own transaction)."""
        box = self.secret_box or _secret_box(self.settings)
        return SqlCredentialStore(self.sessions, tenant_id, box)

    # --- connections and their sync jobs (pie.services.connections) ---

    @property
    def on_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def connections(self, tenant_id: UUID) -> ConnectionStore:
        return SqlConnectionStore(self.sessions, tenant_id)

    def notion_deps(self) -> NotionDeps:
        """What pie.services.notion needs (setup, check, the Notion CRM adapter)."""
        from pie.adapters.notion.admin import NotionWorkspaceAdmin

        return NotionDeps(
            self.connections,
            self.credentials,
            NotionWorkspaceAdmin(),
            base_url=self.settings.notion_base_url,
        )

    @asynccontextmanager
    async def crm_sync(
        self, tenant_id: UUID, *, interval: float = 60.0, rate: float | None = None
    ) -> AsyncIterator[Any]:
        """The tenant's two-way Notion sync engine (pie.sync.engine.SyncEngine); one rate
        limiter per tenant's connection in this process, shared by every engine using it, at
        the connection's stored budget (``rate`` stores a new one)."""
        from pie.services import notion
        from pie.sync.engine import RateLimiter, SyncConfig, SyncEngine, SystemClock

        budget = await notion.sync_rate(self.notion_deps(), tenant_id, set_to=rate)
        config = SyncConfig(connection="notion", interval=interval, requests_per_second=budget)
        key = f"limiter:{tenant_id}:notion"
        if key not in self._jobs:
            self._jobs[key] = RateLimiter(config.requests_per_second, config.burst, SystemClock())
        self._jobs[key].rate = budget
        limiter = self._jobs[key]
        async with notion.crm(self.notion_deps(), tenant_id, gate=limiter.acquire) as crm:
            yield SyncEngine(
                lambda: self.uow(tenant_id, writes=True),
                crm,
                config=config,
                limiter=self._jobs[key],
            )

    def sync_schedule(self) -> SyncSchedule:
        return SqlSyncSchedule(self.sessions)

    def sync_lock(self) -> SyncLock:
        if "lock" not in self._jobs:
            self._jobs["lock"] = (
                PostgresSyncLock(self.engine)
                if self.on_postgres
                else LocalSyncLock(self.settings.data_dir / "locks")
            )
        lock: SyncLock = self._jobs["lock"]
        return lock

    def sync_deps(self) -> SyncDeps:
        return SyncDeps(
            connections=self.connections,
            credentials=self.credentials,
            uow=lambda t: self.uow(t, writes=True),
            lock=self.sync_lock(),
            after_import=self.import_hook,
        )

    def job_queue(self) -> JobQueue:
        """PostgreSQL: the Procrastinate queue the workers read; SQLite: in-process jobs."""
        if "queue" not in self._jobs:
            from pie.adapters import jobs

            if self.on_postgres:
                self._jobs["queue"] = jobs.ProcrastinateQueue(self._job_app())
            else:
                self._jobs["queue"] = jobs.InProcessQueue(self.sync_deps())
        queue: JobQueue = self._jobs["queue"]
        return queue

    def _job_app(self, **options: Any) -> Any:
        from pie.adapters import jobs

        holder: dict[str, JobQueue] = {}
        app = jobs.build_app(
            self.settings.effective_database_url,
            lambda: jobs.JobRuntime(
                self.sync_deps(), self.sync_schedule(), holder["queue"], self.stall_check_all
            ),
            **options,
        )
        holder["queue"] = jobs.ProcrastinateQueue(app, opened=True)  # used by its workers
        return app

    async def run_worker(
        self,
        *,
        concurrency: int = 1,
        name: str | None = None,
        cron: str | None = None,
        stalled_after: float | None = None,
        heartbeat_every: float | None = None,
        install_signal_handlers: bool = True,
        every: float = 60.0,
        stall_cron: str | None = None,
    ) -> None:
        """Run sync jobs until stopped: a Procrastinate worker on PostgreSQL; on SQLite the
        scheduler, every ``every`` seconds, with the jobs in this process."""
        from pie.adapters import jobs

        if not self.on_postgres:
            queue = jobs.InProcessQueue(self.sync_deps())
            await jobs.run_local_scheduler(
                self.sync_schedule(), queue, every=every, stall_check=self.stall_check_all
            )
            return
        options: dict[str, Any] = {}
        if cron:
            options["cron"] = cron
        if stalled_after:
            options["stalled_after"] = stalled_after
        if stall_cron:
            options["stall_cron"] = stall_cron
        app = self._job_app(**options)
        await jobs.run_worker(
            app,
            concurrency=concurrency,
            name=name,
            install_signal_handlers=install_signal_handlers,
            stalled_after=stalled_after or jobs.STALLED_AFTER,
            heartbeat_every=heartbeat_every or jobs.HEARTBEAT_EVERY,
        )

    async def stall_check_all(self) -> dict[UUID, Any]:
        """Every tenant's stall check (pie.services.stalling), as the periodic job runs it."""
        from pie.services.stalling import check_all

        return await check_all(
            SqlTenantDirectory(self.sessions).ids,
            lambda t: self.uow(t, writes=True),
            now=datetime.now(UTC),
        )

    async def aclose(self) -> None:
        queue = self._jobs.pop("queue", None)
        if queue is not None:
            await queue.aclose()
        # the extractors and the narrator: the LLM backend's HTTP clients (litellm's)
        for ex in self._jobs.pop("extractors", {}).values():
            await ex.aclose()
        await asyncio.gather(*self._jobs.pop("closing", ()), return_exceptions=True)
        narrator = self._jobs.pop("narrator", None)
        if narrator is not None:
            await narrator.aclose()
        await self.engine.dispose()

    def extractor(self, *, seller_domains: tuple[str, ...] = ()) -> Extractor:
        """The conversation extractor (docs/intelligence-workflow.md): the LLM backend when
        ``PIE_LLM_MODEL`` is set (it falls back to the offline one on any failure), else the
        offline backend; told which email domains are the seller's."""
        from pie.intelligence.lexicon import ExtractorConfig
        from pie.intelligence.llm import build_extractor

        # one per set of seller domains, kept (the LLM backend's concurrency limit is then the
        # process's) and closed by ``aclose``; the oldest is closed when too many are kept
        kept: dict[tuple[str, ...], Extractor] = self._jobs.setdefault("extractors", {})
        ex = kept.pop(seller_domains, None) or build_extractor(
            ExtractorConfig(seller_domains=seller_domains)
        )
        kept[seller_domains] = ex
        while len(kept) > EXTRACTORS_KEPT:
            old = kept.pop(next(iter(kept)))
            self._jobs.setdefault("closing", set()).add(asyncio.ensure_future(old.aclose()))
        return ex

    def import_hook(
        self,
        tenant_id: UUID,
        *,
        seller_domains: tuple[str, ...] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportHook:
        """The intelligence pipeline on the conversations an import brings (once per activity
        version; docs/intelligence-workflow.md)."""
        from pie.services.conversations import ImportHook

        return ImportHook(
            lambda: self.uow(tenant_id, writes=True),
            self.extractor(seller_domains=seller_domains),
            seller_domains,
            self.narrator(),
            progress=progress,
        )

    def narrator(self) -> NarrativeWriter | None:
        """Who writes plan narratives: an LLM when ``PIE_LLM_MODEL`` is set, else None (they
        are assembled offline)."""
        from pie.intelligence.llm import LlmSettings
        from pie.services.plans_intel import LlmNarrative

        settings = LlmSettings.from_env()
        if settings is None:
            return None
        if "narrator" not in self._jobs:
            self._jobs["narrator"] = LlmNarrative(settings)  # closed by ``aclose``
        narrator: NarrativeWriter = self._jobs["narrator"]
        return narrator


def build(settings: Settings) -> Container:
    engine = make_engine(settings.effective_database_url, busy_timeout=settings.sqlite_busy_timeout)
    sessions = make_sessions(engine)
    return Container(
        settings,
        engine,
        sessions,
        SqlTenantDirectory(sessions),
        ModelCache(max_entries=settings.model_cache_size),
        _secret_box(settings),
    )


def _secret_box(settings: Settings) -> LazySecretBox:
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    return LazySecretBox(lambda: keys_from(key, settings.secret_key_file))


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
