"""The migrations: up, down and up again on both engines, and they agree with the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine
from pie.adapters.db.tables import metadata
from tests.dbfixtures import (
    APP_ROLE,
    create_postgres_database,
    drop_postgres_database,
    sqlite_url,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "nested" / "folder" / "pie.db")
        return
    database = create_postgres_database(request.getfixturevalue("postgres_server"), migrated=False)
    yield database.admin_url
    drop_postgres_database(database)


def _differences(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


async def _inspect(url: str) -> tuple[list[object], set[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_differences), await conn.run_sync(_tables)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_and_models_match(empty_url: str) -> None:
    assert migrate.current_revision(empty_url) is None
    migrate.upgrade(empty_url, app_role=APP_ROLE)
    assert migrate.current_revision(empty_url) == migrate.head_revision()
    differences, tables = await _inspect(empty_url)
    assert differences == []
    assert tables == set(metadata.tables)

    migrate.downgrade(empty_url, app_role=APP_ROLE)
    assert migrate.current_revision(empty_url) is None
    assert (await _inspect(empty_url))[1] == set()

    migrate.upgrade(empty_url, app_role=APP_ROLE)
    assert migrate.current_revision(empty_url) == migrate.head_revision()
    assert await _inspect(empty_url) == ([], set(metadata.tables))


def test_one_head() -> None:
    from alembic.script import ScriptDirectory

    assert len(ScriptDirectory(str(migrate.MIGRATIONS_DIR)).get_heads()) == 1
