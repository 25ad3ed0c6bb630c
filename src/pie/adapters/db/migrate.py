"""Run the schema migrations programmatically (``pie db upgrade`` and the tests use this; no
alembic.ini is needed).

The functions are synchronous. Each runs alembic in a worker thread with its own event loop, so
they are safe to call from plain code, from a CLI command and from inside a running event loop
(an async test or fixture): the calling loop is blocked for the duration, nothing else.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from pie.adapters.db.engine import make_engine
from pie.domain.errors import InvalidInput

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
R = TypeVar("R")


def _config(url: str, *, app_role: str) -> Config:
    if not _ROLE_NAME.fullmatch(app_role):
        raise InvalidInput("must be lower-case letters, digits and underscores", field="app_role")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["url"] = url
    cfg.attributes["app_role"] = app_role
    return cfg


def _in_worker_thread(fn: Callable[[], R]) -> R:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pie-migrate") as pool:
        return pool.submit(fn).result()


def upgrade(url: str, *, app_role: str = "pie_app", revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``. On PostgreSQL, connect as the role
    that is to own the tables; ``app_role`` is the role the application connects as (created if
    missing and allowed, then granted row access only)."""
    cfg = _config(url, app_role=app_role)
    # "heads": areas' migrations branch from the same revision until they are chained
    target = "heads" if revision == "head" else revision
    _in_worker_thread(lambda: command.upgrade(cfg, target))


def downgrade(url: str, *, revision: str = "base", app_role: str = "pie_app") -> None:
    """Migrate down to ``revision`` (``base``: drop everything PIE created, except roles)."""
    cfg = _config(url, app_role=app_role)
    _in_worker_thread(lambda: command.downgrade(cfg, revision))


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for a database PIE never migrated."""

    async def read() -> str | None:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_current)
        finally:
            await engine.dispose()

    return _in_worker_thread(lambda: asyncio.run(read()))


def head_revision() -> str:
    """The revision ``upgrade`` migrates to by default."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
