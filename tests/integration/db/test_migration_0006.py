"""Migration 0006_tombstones drops the refs whose record is gone (the tombstones deletes used
to leave), on both engines, and keeps every ref of a live record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine
from tests.dbfixtures import APP_ROLE, create_postgres_database, drop_postgres_database, sqlite_url
from tests.integration.db.test_migrations import _at, _id


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "pie.db")
        return
    database = create_postgres_database(request.getfixturevalue("postgres_server"), migrated=False)
    yield database.admin_url
    drop_postgres_database(database)


async def test_tombstone_refs_are_dropped_and_live_refs_stay(empty_url: str) -> None:
    migrate.upgrade(empty_url, app_role=APP_ROLE, revision="0005_connections")
    tenant, deal, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ref = (
        "INSERT INTO external_refs (tenant_id, kind, source, external_id, entity_id, digest)"
        " VALUES (:t, :kind, 'salesforce', :ext, :e, :digest)"
    )
    engine = make_engine(empty_url)
    try:
        async with engine.begin() as conn:
            t = _id(conn, tenant)
            await conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES (:t, 'm', :now)"),
                {"t": t, "now": _at(conn)},
            )
            await conn.execute(
                text(
                    "INSERT INTO deals (id, tenant_id, name, stage, currency, source,"
                    " qualification, custom_fields, created_at, updated_at, version, provenance)"
                    " VALUES (:d, :t, 'D', 'demo', 'USD', 'salesforce', '{}', '{}', :now, :now,"
                    " 1, '{}')"
                ),
                {"d": _id(conn, deal), "t": t, "now": _at(conn)},
            )
            rows = [
                ("deal", "006LIVE", deal, "abc"),  # a live deal's ref
                ("deal", "006GONE", gone, "deleted"),  # a deal the reconciliation deleted
                ("activity", "00TGONE", gone, None),  # a task deleted with its deal
                ("activity", "00TLIVE?", deal, None),  # filed under activity: no such one
            ]
            for kind, ext, entity, digest in rows:
                await conn.execute(
                    text(ref),
                    {"t": t, "kind": kind, "ext": ext, "e": _id(conn, entity), "digest": digest},
                )
    finally:
        await engine.dispose()

    migrate.upgrade(empty_url, app_role=APP_ROLE)

    engine = make_engine(empty_url)
    try:
        async with engine.connect() as conn:
            left = await conn.execute(text("SELECT kind, external_id FROM external_refs"))
            assert [tuple(r) for r in left] == [("deal", "006LIVE")]
    finally:
        await engine.dispose()
