"""Migration 0003_intelligence types what was stored untyped: a deal's free-form qualification
snapshot and plan criteria whose evidence was a bare string. Row-level security covers its new
tables on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from pie.adapters.db import migrate
from pie.adapters.db.engine import make_engine
from pie.adapters.db.tables_intelligence import INTELLIGENCE_TABLES
from pie.domain.plans import OpportunityPlanData
from pie.domain.progression import ProgressionSettings
from pie.domain.qualification import read_qualification
from tests.dbfixtures import (
    APP_ROLE,
    Database,
    PostgresDatabase,
    create_postgres_database,
    drop_postgres_database,
    sqlite_url,
)
from tests.integration.db.test_migrations import _at, _id


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "pie.db")
        return
    database = create_postgres_database(request.getfixturevalue("postgres_server"), migrated=False)
    yield database.admin_url
    drop_postgres_database(database)


async def test_legacy_qualification_and_plan_evidence_become_typed(empty_url: str) -> None:
    migrate.upgrade(empty_url, app_role=APP_ROLE, revision="0002")
    tenant, deal, plan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    legacy = {"budget": "50k", "champion": True, "pain": {"text": "slow forecasts"}, "tier": 2}
    old_plan = {
        "qualification_tracking": {
            "budget": {"status": "partial", "evidence": "they said 50k", "confidence": 0.4},
            "need": {"status": "unknown", "evidence": None, "confidence": 0.0},
        }
    }
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
                    " qualification, custom_fields, created_at, updated_at, version, provenance)"
                    " VALUES (:d, :t, 'D', 'demo', 'USD', 'crm', :q, '{}', :now, :now, 1, '{}')"
                ),
                {
                    "d": _id(conn, deal),
                    "t": _id(conn, tenant),
                    "q": json.dumps(legacy),
                    "now": _at(conn),
                },
            )
            await conn.execute(
                text(
                    "INSERT INTO opportunity_plans (id, tenant_id, deal_id, version, data,"
                    " updated_at) VALUES (:p, :t, :d, 1, :data, :now)"
                ),
                {
                    "p": _id(conn, plan),
                    "t": _id(conn, tenant),
                    "d": _id(conn, deal),
                    "data": json.dumps(old_plan),
                    "now": _at(conn),
                },
            )
    finally:
        await engine.dispose()
    migrate.upgrade(empty_url, app_role=APP_ROLE)
    engine = make_engine(empty_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT qualification, custom_fields FROM deals"))).one()
            data = (await conn.execute(text("SELECT data FROM opportunity_plans"))).scalar_one()
    finally:
        await engine.dispose()

    def loaded(v: object) -> dict[str, object]:
        return json.loads(v) if isinstance(v, str) else v  # type: ignore[return-value]

    q = read_qualification(loaded(row[0]))
    assert q.budget is not None and q.budget.value == "50k" and q.budget.evidence is None
    assert q.champion is not None and q.champion.value == "yes"
    assert q.identify_pain is not None and q.identify_pain.value == "slow forecasts"
    assert loaded(row[1])["qualification_notes"] == {"tier": 2}
    typed = OpportunityPlanData.model_validate(loaded(data))
    budget = typed.qualification_tracking.budget
    assert [e.quote for e in budget.evidence] == ["they said 50k"]
    assert budget.evidence[0].activity_id is None
    assert typed.qualification_tracking.need.evidence == []


def test_plans_written_before_the_migration_still_load() -> None:
    old = {"qualification_tracking": {"budget": {"status": "partial", "evidence": "50k"}}}
    plan = OpportunityPlanData.model_validate(old)
    assert plan.qualification_tracking.budget.evidence[0].quote == "50k"


@pytest.mark.postgres
async def test_the_new_tables_are_tenant_isolated(
    postgres_db: Database, postgres_database: PostgresDatabase
) -> None:
    tenant = (await postgres_db.new_tenant("rls-intel")).tenant.id
    async with postgres_db.uow(tenant) as uow:
        await uow.intel.save_settings(ProgressionSettings(stalled_after_days=9))
        await uow.commit()
    conn = await asyncpg.connect(
        host=postgres_database.server.host,
        port=postgres_database.server.port,
        user=APP_ROLE,
        database=postgres_database.name,
    )
    try:
        for table in INTELLIGENCE_TABLES:
            forced = await conn.fetchval(
                "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = $1",
                table,
            )
            assert forced, table
            # with no tenant set the app role sees nothing and may write nothing
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
        async with conn.transaction():
            await conn.execute("SELECT set_config('pie.tenant_id', $1, true)", str(tenant))
            assert await conn.fetchval("SELECT count(*) FROM intelligence_settings") == 1
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute(
                "INSERT INTO intelligence_settings (tenant_id, document, updated_at)"
                " VALUES ($1, '{}', now())",
                uuid.uuid4(),
            )
    finally:
        await conn.close()
