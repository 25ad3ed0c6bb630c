"""Real databases for tests: a fresh, migrated PostgreSQL database per test session and a
migrated SQLite file per test. The pytest fixtures built on these live in tests/conftest.py:

    async def test_something(db: Database) -> None:      # runs once on SQLite, once on PostgreSQL
        made = await db.new_tenant()                     # a tenant with a unique name (+ API key)
        async with db.uow(made.tenant.id) as uow:
            ...
            await uow.commit()

``db.url`` is the URL the application would use (on PostgreSQL the non-owner app role, so
row-level security applies); ``db.admin_url`` the migrating superuser's. Tests never share
tenants, so they stay independent without emptying the database between tests.

The PostgreSQL server is the machine's when it answers, else a throwaway one the session
starts (see tests/postgres_server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine, make_sessions
from pie.adapters.db.tenants import SqlTenantDirectory
from pie.adapters.db.uow import SqlUnitOfWork
from pie.ports.uow import NewTenant
from tests.postgres_server import PostgresServer

APP_ROLE = "pie_test_app"
Kind = Literal["sqlite", "postgresql"]
R = TypeVar("R")


def run_in_thread(make: Callable[[], Coroutine[Any, Any, R]]) -> R:
    """Run a coroutine to completion on its own loop in a worker thread (safe inside tests
    that already run an event loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def _superuser(server: PostgresServer) -> Any:
    try:
        return await asyncpg.connect(
            host=server.host, port=server.port, user=server.user, database="postgres", timeout=10
        )
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable as {server.user}@{server.host}:{server.port} ({exc}); "
            "the database tests need it (they are never skipped)",
            pytrace=False,
        )


@dataclass(frozen=True)
class PostgresDatabase:
    server: PostgresServer
    name: str
    admin_url: str  # superuser: owns the tables, bypasses row-level security
    app_url: str  # the app role: neither superuser nor owner


def create_postgres_database(server: PostgresServer, *, migrated: bool = True) -> PostgresDatabase:
    """A new empty database ``pie_test_<random>`` (migrated with the app role ``pie_test_app``
    unless ``migrated=False``). Drop it with ``drop_postgres_database``."""
    name = f"pie_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await _superuser(server)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE)
            if not exists:
                # another test session may make it at the same moment
                with contextlib.suppress(asyncpg.DuplicateObjectError):
                    await conn.execute(f'CREATE ROLE "{APP_ROLE}" LOGIN')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_in_thread(create)
    database = PostgresDatabase(server, name, server.url(name), server.url(name, APP_ROLE))
    if migrated:
        migrate.upgrade(database.admin_url, app_role=APP_ROLE)
    return database


def drop_postgres_database(database: PostgresDatabase) -> None:
    async def drop() -> None:
        conn = await _superuser(database.server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_in_thread(drop)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def create_sqlite_template(folder: Path) -> Path:
    """A migrated SQLite file to copy for each test (copying beats migrating every time)."""
    path = folder / "template.db"
    migrate.upgrade(sqlite_url(path))
    return path


def copy_sqlite(template: Path, folder: Path) -> Path:
    path = folder / "pie.db"
    shutil.copyfile(template, path)
    return path


@dataclass
class Database:
    """One test's handle on a migrated database; see the module docstring."""

    kind: Kind
    url: str
    admin_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tenants: SqlTenantDirectory

    def uow(self, tenant_id: UUID) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, tenant_id)

    async def new_tenant(self, prefix: str = "tenant") -> NewTenant:
        return await self.tenants.create(f"{prefix}-{uuid.uuid4().hex[:10]}")


@asynccontextmanager
async def open_database(kind: Kind, url: str, admin_url: str) -> AsyncIterator[Database]:
    """An engine on ``url`` for the current event loop, disposed on exit."""
    engine = make_engine(url)
    sessions = make_sessions(engine)
    try:
        yield Database(kind, url, admin_url, engine, sessions, SqlTenantDirectory(sessions))
    finally:
        await engine.dispose()
