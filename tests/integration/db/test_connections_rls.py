"""Row-level security of the connections area on PostgreSQL, tried with raw SQL as the app
role: a tenant's credentials and connections are invisible and untouchable to others; the
scheduler's function shows only ids and times; the queue's schema is usable by the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio

from pie.adapters.db.connections import SqlConnectionStore
from pie.adapters.db.credentials import SqlCredentialStore
from pie.adapters.secrets import SecretBox
from pie.ports.connections import ACTIVE, Connection
from pie.ports.credentials import Secret
from tests.dbfixtures import APP_ROLE, Database, PostgresDatabase
from tests.fakes.credentials import TEST_KEY

pytestmark = pytest.mark.postgres
TABLES = ("credentials", "connections")


@pytest_asyncio.fixture
async def setup(
    postgres_db: Database, postgres_database: PostgresDatabase
) -> AsyncIterator[tuple[UUID, UUID, Any]]:
    a = (await postgres_db.new_tenant("crls-a")).tenant.id
    b = (await postgres_db.new_tenant("crls-b")).tenant.id
    await SqlCredentialStore(postgres_db.sessions, b, SecretBox([TEST_KEY])).put(
        "connection:x", {"token": Secret("b-secret")}
    )
    now = datetime.now(UTC)
    await SqlConnectionStore(postgres_db.sessions, b).add(
        Connection(
            id=UUID(int=b.int ^ 1),
            tenant_id=b,
            vendor="fakecrm",
            name="x",
            base_url=None,
            auth="api-token",
            settings={},
            credential="connection:x",
            schedule_minutes=5,
            state=ACTIVE,
            created_at=now,
            updated_at=now,
            next_run_at=now - timedelta(minutes=1),
        )
    )
    app = await asyncpg.connect(
        host=postgres_database.server.host,
        port=postgres_database.server.port,
        user=APP_ROLE,
        database=postgres_database.name,
    )
    try:
        yield a, b, app
    finally:
        await app.close()


async def test_another_tenant_sees_and_changes_nothing(setup: tuple[UUID, UUID, Any]) -> None:
    a, b, app = setup
    for tenant, visible in ((None, 0), (a, 0), (b, 1)):
        async with app.transaction():
            await app.execute(
                "SELECT set_config('pie.tenant_id', $1, true)", str(tenant) if tenant else ""
            )
            for table in TABLES:
                rows = await app.fetch(f"SELECT * FROM {table} WHERE tenant_id = $1", b)
                assert len(rows) == visible, (tenant, table)
            if tenant == a:
                for table in TABLES:
                    done = await app.execute(f"DELETE FROM {table} WHERE tenant_id = $1", b)
                    assert done == "DELETE 0"
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app.execute(
                        "INSERT INTO credentials (tenant_id, name, sealed, updated_at) "
                        "VALUES ($1, 'y', '\\x00', now())",
                        b,
                    )


async def test_the_scheduler_function_and_the_queue_are_usable_by_the_app(
    setup: tuple[UUID, UUID, Any],
) -> None:
    _, b, app = setup
    due = await app.fetch("SELECT * FROM pie_due_connections(now())")
    assert [r["tenant_id"] for r in due if r["tenant_id"] == b] == [b]
    assert set(due[0].keys()) == {"tenant_id", "id", "next_run_at"}  # no settings, no secrets
    await app.execute("SET search_path TO procrastinate")
    assert await app.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE false") == 0
