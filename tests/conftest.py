"""Shared fixtures. Database fixtures (see tests/dbfixtures.py for the how):

* ``db``: a migrated database, parametrized over ``sqlite`` and ``postgresql``; a test that
  takes it runs on both. PostgreSQL is never skipped: if the server is down the test fails.
* ``sqlite_db`` / ``postgres_db``: the same handle for one engine only.
* ``postgres_database``: the session's PostgreSQL database (names and URLs), for tests that
  need raw connections, e.g. as the superuser.
* ``postgres_server``: the server itself: the machine's if one answers at PIE_TEST_PG_URL,
  else a throwaway server started for the session and removed after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.dbfixtures import (
    Database,
    PostgresDatabase,
    copy_sqlite,
    create_postgres_database,
    create_sqlite_template,
    drop_postgres_database,
    open_database,
    sqlite_url,
)
from tests.postgres_server import PostgresServer, postgres_for_tests


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with postgres_for_tests() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_database(postgres_server: PostgresServer) -> Iterator[PostgresDatabase]:
    database = create_postgres_database(postgres_server)
    yield database
    drop_postgres_database(database)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest_asyncio.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    url = sqlite_url(copy_sqlite(sqlite_template, tmp_path))
    async with open_database("sqlite", url, url) as database:
        yield database


@pytest_asyncio.fixture
async def postgres_db(postgres_database: PostgresDatabase) -> AsyncIterator[Database]:
    async with open_database(
        "postgresql", postgres_database.app_url, postgres_database.admin_url
    ) as database:
        yield database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database: Database = request.getfixturevalue(fixture)
    return database


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every fit of the process model the services make (its ``as_of``), counted."""
    from pie.services.world import fit_model as real

    calls: list[Any] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("as_of"))
        return real(*args, **kwargs)

    monkeypatch.setattr("pie.services.model_cache.fit_model", counting)
    return calls
