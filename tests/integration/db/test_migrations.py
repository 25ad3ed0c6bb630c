"""The migrations: up, down and up again on both engines, and they agree with the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

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
    database = create_postgres_database(migrated=False)
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


async def test_0002_moves_source_ids_into_refs_and_drops_orphans(empty_url: str) -> None:
    """A store at 0001 with ids in ``external_ids`` and a ref to a deleted deal: after the
    upgrade every id is a ref, the orphan is gone, and records come back with their ids."""
    migrate.upgrade(empty_url, app_role=APP_ROLE, revision="0001")
    tenant, deal, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = make_engine(empty_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES (:t, 'm', :now)"),
                {"t": _id(conn, tenant), "now": _at(conn)},
            )
            await conn.execute(
                text(
                    "INSERT INTO deals (id, tenant_id, name, stage, currency, source,"
                    " qualification, custom_fields, external_ids, created_at, updated_at)"
                    " VALUES (:d, :t, 'D', 'demo', 'USD', 'crm', '{}', '{}',"
                    ' \'{"crm": "D-1", "notion": "n-9"}\', :now, :now)'
                ),
                {"d": _id(conn, deal), "t": _id(conn, tenant), "now": _at(conn)},
            )
            await conn.execute(
                text(
                    "INSERT INTO external_refs (tenant_id, kind, source, external_id, entity_id)"
                    " VALUES (:t, 'deal', 'crm', 'old', :g)"
                ),
                {"t": _id(conn, tenant), "g": _id(conn, gone)},
            )
    finally:
        await engine.dispose()
    migrate.upgrade(empty_url, app_role=APP_ROLE)
    engine = make_engine(empty_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT source, external_id FROM external_refs ORDER BY source")
            )
            assert [tuple(r) for r in rows] == [("crm", "D-1"), ("notion", "n-9")]
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("deals")}
            )
            assert "external_ids" not in columns and {"version", "provenance"} <= columns
    finally:
        await engine.dispose()


def _id(conn: object, value: uuid.UUID) -> object:
    return value.hex if conn.dialect.name == "sqlite" else value  # type: ignore[attr-defined]


def _at(conn: object) -> object:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return now.replace(tzinfo=None).isoformat(" ") if conn.dialect.name == "sqlite" else now  # type: ignore[attr-defined]
