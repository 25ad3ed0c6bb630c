"""Engines and session factories for the two supported stores: SQLite (embedded default, via
aiosqlite) and PostgreSQL (via asyncpg)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import URL, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

#: Pages the SQLite WAL may hold before a commit copies them into the database file (SQLite's
#: default is 1,000, 4 MB). A sync commits batches of tens of thousands of records whose
#: random-key index pages are largely the same from batch to batch: checkpointed every
#: 100,000 pages, such a page is copied to the database once rather than after each commit (a
#: sync of 20,000 opportunities writes a quarter less). After a checkpoint the WAL file is cut
#: back to ``SQLITE_WAL_KEEP_BYTES``.
SQLITE_WAL_CHECKPOINT_PAGES = 100_000
SQLITE_WAL_KEEP_BYTES = 64 * 1024 * 1024

#: How long a SQLite writer waits for another writer's lock before giving up, in seconds: long
#: enough for another process's import of a large file (Settings.sqlite_busy_timeout).
SQLITE_BUSY_TIMEOUT = 60.0


JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def json_encode(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):  # asyncpg's UUIDs are a subclass orjson leaves to us
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def json_dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, UTF-8), so equal documents are equal text on
    SQLite too. Datetimes and dates are ISO 8601, UUIDs and money (Decimal) strings."""
    return orjson.dumps(value, default=json_encode, option=JSON_OPTIONS).decode()


def json_loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def make_engine(
    url: str, *, echo: bool = False, busy_timeout: float = SQLITE_BUSY_TIMEOUT
) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite:///path`` or
    ``postgresql+asyncpg://user@host/db``).

    SQLite: the file's folder is created, and every connection gets foreign keys on, WAL (readers
    never wait for the writer; checkpointed every ``SQLITE_WAL_CHECKPOINT_PAGES`` pages) and
    ``busy_timeout`` seconds to wait for another writer's lock.
    Units of work that write take that lock when they begin (``SqlUnitOfWork(writes=True)``).
    PostgreSQL: a normal connection pool that checks connections before use.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo, busy_timeout=busy_timeout)
    return create_async_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
    )


def _sqlite_engine(url: URL, *, echo: bool, busy_timeout: float) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=echo,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
        connect_args={"timeout": busy_timeout},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
            if database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
                cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_KEEP_BYTES}")
        finally:
            cursor.close()

    return engine


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory units of work take. Objects stay readable after a commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
