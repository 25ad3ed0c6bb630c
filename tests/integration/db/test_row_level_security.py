"""Row-level security on PostgreSQL, tried as an attacker with raw SQL as the app role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio

from pie.adapters.db.tables import TENANT_TABLES
from pie.adapters.db.tables_connections import CONNECTION_TABLES
from pie.adapters.db.tables_intelligence import INTELLIGENCE_TABLES
from pie.domain.crm_fields import RecordKind
from pie.domain.model import EntityKind, ExternalRef
from pie.domain.ownership import OwnershipPolicy
from pie.domain.plans import AccountPlanData, OpportunityPlanData
from pie.domain.political import Relationship, RelationshipKind, ScoreSource, StakeholderProfile
from pie.domain.progression import ProgressionSettings
from pie.ports.intelligence import ActivityIntel, Narrative, PlanVersion, TransitionEvidence
from pie.ports.sync import Conflict as SyncConflict
from pie.ports.sync import Link, SyncState
from tests.contract import records as r
from tests.dbfixtures import APP_ROLE, Database, PostgresDatabase

pytestmark = pytest.mark.postgres
ALL_TABLES = ("tenants", *TENANT_TABLES, *INTELLIGENCE_TABLES)
#: tables whose isolation is proven with rows in tests/contract/test_connections.py; here they
#: are checked for forced row-level security and ownership like the rest
OTHER_TABLES = CONNECTION_TABLES


def _owner_column(table: str) -> str:
    return "id" if table == "tenants" else "tenant_id"


@dataclass
class Two:
    a: UUID
    b: UUID
    app: Any  # asyncpg connection as the app role


@pytest_asyncio.fixture
async def two(postgres_db: Database, postgres_database: PostgresDatabase) -> AsyncIterator[Two]:
    a = (await postgres_db.new_tenant("rls-a")).tenant.id
    b = (await postgres_db.new_tenant("rls-b")).tenant.id
    acc = r.account(b)
    con = r.contact(b, acc.id)
    deal = r.deal(b, acc.id)
    async with postgres_db.uow(b) as uow:  # a row of B in every tenant table
        await uow.accounts.add(acc)
        await uow.contacts.add(con)
        await uow.deals.add(deal)
        holder = r.stakeholder(b, con.id, deal_id=deal.id)
        other = r.stakeholder(b, con.id, deal_id=deal.id)
        await uow.stakeholders.add(holder)
        await uow.stakeholders.add(other)
        act = r.activity(b, deal.id)
        await uow.activities.add(act)
        tr = r.transition(b, deal.id)
        await uow.transitions.add(tr)
        await _intelligence_rows(uow, act.id, holder.id, other.id, tr.id, deal.id)
        await uow.refs.upsert_many(
            [
                ExternalRef(
                    tenant_id=b,
                    kind=EntityKind.DEAL,
                    source="s",
                    external_id="1",
                    entity_id=deal.id,
                )
            ]
        )
        await uow.plans.save_account_plan(acc.id, AccountPlanData(), expected_version=0)
        await uow.plans.save_opportunity_plan(deal.id, OpportunityPlanData(), expected_version=0)
        await uow.cursors.save("s", "deals", "2024-01-01")
        await uow.models.put("fit", await uow.changes.latest(), b"model")
        await uow.policy.save(OwnershipPolicy.from_document({"deal.stage": ["human", "pie"]}))
        await uow.sync.save_state("notion", SyncState())
        await uow.sync.save_link("notion", Link(RecordKind.DEAL, deal.id, "page"))
        await uow.sync.save_base("notion", RecordKind.DEAL, deal.id, {"stage": "demo"})
        await uow.sync.log_conflicts(
            "notion", [SyncConflict(RecordKind.DEAL, deal.id, "page", "stage", 1, 2, 3, "crm", "r")]
        )
        await uow.commit()
    app = await asyncpg.connect(
        host=postgres_database.server.host,
        port=postgres_database.server.port,
        user=APP_ROLE,
        database=postgres_database.name,
    )
    try:
        yield Two(a, b, app)
    finally:
        await app.close()


async def _intelligence_rows(
    uow: Any, act: UUID, holder: UUID, other: UUID, tr: UUID, deal: UUID
) -> None:
    """A row in each intelligence table (migration 0003_intelligence)."""
    at = r.T0
    await uow.intel.save_activity(
        ActivityIntel(
            activity_id=act,
            digest="d",
            extractor="x",
            extraction={},
            enrichment={},
            processed_at=at,
        )
    )
    await uow.intel.save_profile(StakeholderProfile(stakeholder_id=holder, updated_at=at))
    await uow.intel.save_relationship(
        Relationship(
            id=uuid4(),
            from_id=holder,
            to_id=other,
            kind=RelationshipKind.REPORTS_TO,
            source=ScoreSource.HUMAN_OVERRIDE,
            evidence="e",
            at=at,
        )
    )
    await uow.intel.save_transition_evidence(TransitionEvidence(transition_id=tr, reason="r"))
    await uow.intel.save_narrative(
        Narrative(
            kind="deal", owner_id=deal, inputs_digest="i", writer="w", text="t", created_at=at
        )
    )
    await uow.intel.save_plan_version(
        PlanVersion(kind="deal", owner_id=deal, version=1, saved_at=at)
    )
    await uow.intel.save_settings(ProgressionSettings())


async def _as_tenant(conn: Any, tenant: UUID | None) -> Any:
    tx = conn.transaction()
    await tx.start()
    if tenant is not None:
        await conn.execute("SELECT set_config('pie.tenant_id', $1, true)", str(tenant))
    return tx


async def test_another_tenants_rows_cannot_be_read_changed_or_deleted(two: Two) -> None:
    tx = await _as_tenant(two.app, two.a)
    try:
        for table in ALL_TABLES:
            col = _owner_column(table)
            seen = await two.app.fetchval(f"SELECT count(*) FROM {table} WHERE {col} = $1", two.b)
            assert seen == 0, table
            assert await two.app.fetchval(f"SELECT count(*) FROM {table}") == (
                1 if table in ("tenants", "api_keys") else 0
            ), table
            assert (
                await two.app.execute(f"UPDATE {table} SET {col} = {col} WHERE {col} = $1", two.b)
                == "UPDATE 0"
            ), table
            assert (
                await two.app.execute(f"DELETE FROM {table} WHERE {col} = $1", two.b) == "DELETE 0"
            ), table
    finally:
        await tx.rollback()
    tx = await _as_tenant(two.app, two.b)  # B's rows are still all there
    try:
        for table in ALL_TABLES:
            col = _owner_column(table)
            assert await two.app.fetchval(f"SELECT count(*) FROM {table} WHERE {col} = $1", two.b)
    finally:
        await tx.rollback()


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("tenants", "(id, name, created_at) VALUES ($1, 'evil', now())"),
        ("api_keys", "VALUES (gen_random_uuid(), $1, 'hash', 'pie_', now(), NULL)"),
        (
            "accounts",
            "(id, tenant_id, name, custom_fields, created_at, updated_at, version, provenance)"
            " VALUES (gen_random_uuid(), $1, 'x', '{}', now(), now(), 1, '{}')",
        ),
        (
            "changes",
            "VALUES ($1, 99, 'deal', gen_random_uuid(), 'create', 1, 'pie', '{}', now())",
        ),
        ("change_counters", "VALUES ($1, 99)"),
        ("external_refs", "VALUES ($1, 'deal', 's', '2', gen_random_uuid())"),
    ],
)
@pytest.mark.parametrize("as_tenant", ["a", None])
async def test_rows_cannot_be_inserted_for_another_tenant_or_without_one(
    two: Two, table: str, columns: str, as_tenant: str | None
) -> None:
    tx = await _as_tenant(two.app, two.a if as_tenant else None)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await two.app.execute(f"INSERT INTO {table} {columns}", two.b)
    finally:
        await tx.rollback()


async def test_a_row_cannot_be_moved_to_another_tenant(two: Two) -> None:
    tx = await _as_tenant(two.app, two.b)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await two.app.execute("UPDATE accounts SET tenant_id = $1", two.a)
    finally:
        await tx.rollback()


async def test_without_a_tenant_nothing_is_visible(two: Two) -> None:
    for tenant_setting in (None, ""):
        tx = await _as_tenant(two.app, None)
        try:
            if tenant_setting is not None:
                await two.app.execute("SELECT set_config('pie.tenant_id', '', true)")
            for table in ALL_TABLES:
                assert await two.app.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        finally:
            await tx.rollback()


async def test_the_app_role_is_neither_superuser_nor_owner(two: Two) -> None:
    role = await two.app.fetchrow(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
    )
    assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
    owners = await two.app.fetch(
        "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = current_schema()"
    )
    assert {o["tablename"] for o in owners} >= {*ALL_TABLES, *OTHER_TABLES}
    assert all(o["tableowner"] != APP_ROLE for o in owners)


async def test_row_level_security_is_forced_on_every_table_with_a_tenant(two: Two) -> None:
    rows = await two.app.fetch(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r'
          AND (c.relname = 'tenants' OR EXISTS (
            SELECT 1 FROM information_schema.columns i
            WHERE i.table_schema = n.nspname AND i.table_name = c.relname
              AND i.column_name = 'tenant_id'))
        """
    )
    assert {row["relname"] for row in rows} == {*ALL_TABLES, *OTHER_TABLES}
    assert all(row["relrowsecurity"] and row["relforcerowsecurity"] for row in rows)


async def test_lookup_functions_are_for_the_app_role_only(two: Two) -> None:
    for function in ("pie_authenticate(text)", "pie_tenant_by_name(text)"):
        assert await two.app.fetchval(
            "SELECT has_function_privilege($1, $2, 'EXECUTE')", APP_ROLE, function
        )
        granted_to_public = await two.app.fetchval(
            "SELECT bool_or(a.grantee = 0) FROM pg_proc p, aclexplode(p.proacl) a "
            "WHERE p.oid = $1::regprocedure",
            function,
        )
        assert not granted_to_public
    assert await two.app.fetchval("SELECT pie_authenticate('nope')") is None
    assert await two.app.fetchval("SELECT pie_tenant_by_name('nope-' || $1)", str(uuid4())) is None
