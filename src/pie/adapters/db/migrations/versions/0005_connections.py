"""Connections: a tenant's encrypted credentials and its connections to sources; on
PostgreSQL also the job queue's own tables (Procrastinate's schema, in the schema
``procrastinate`` so they stay apart from PIE's) and ``pie_due_connections``, the one function
that sees every tenant's schedules (for the worker that defers scheduled syncs).

Revision ID: 0005_connections
Revises: 0002
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0005_connections"
down_revision: str | None = "0004_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NEW_TABLES = ("credentials", "connections")
CURRENT_TENANT = "NULLIF(current_setting('pie.tenant_id', true), '')::uuid"
QUEUE_SCHEMA = "procrastinate"
DUE = "pie_due_connections(timestamp with time zone)"


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_credentials_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_credentials")),
    )
    op.create_table(
        "connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("vendor", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("base_url", sa.String(), nullable=True),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("credential", sa.String(), nullable=False),
        sa.Column("schedule_minutes", sa.Integer(), nullable=True),
        sa.Column("next_run_at", TIMESTAMP, nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("last_job_id", sa.String(), nullable=True),
        sa.Column("last_sync_at", TIMESTAMP, nullable=True),
        sa.Column("last_result", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_connections_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_connections_tenant_id_name")),
    )
    op.create_index(op.f("ix_connections_next_run_at"), "connections", ["next_run_at"])
    if _is_pg():
        role = _app_role()
        _secure_postgresql(role)
        _create_queue(role)


def _app_role() -> str:
    role = str(context.config.attributes.get("app_role", "pie_app"))
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"invalid app role name {role!r}")
    return role


def _schema() -> str:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def _secure_postgresql(role: str) -> None:
    app, schema = f'"{role}"', _schema()
    for table in NEW_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY pie_tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")
    # The scheduler claims due connections of every tenant: only their ids and schedules.
    op.execute(
        f"""
        CREATE FUNCTION pie_due_connections(at timestamp with time zone)
        RETURNS TABLE (tenant_id uuid, id uuid, next_run_at timestamp with time zone)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
        AS $$
          SELECT c.tenant_id, c.id, c.next_run_at FROM {schema}.connections AS c
          WHERE c.schedule_minutes IS NOT NULL AND c.state <> 'paused'
            AND c.next_run_at IS NOT NULL AND c.next_run_at <= $1
          ORDER BY c.next_run_at
        $$
        """
    )
    op.execute(f"REVOKE EXECUTE ON FUNCTION {DUE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {DUE} TO {app}")


def _create_queue(role: str) -> None:
    """Procrastinate's schema in its own PostgreSQL schema; the app role may use it (the
    queue holds job ids, tenant and connection ids: no credentials, no records)."""
    from procrastinate.schema import SchemaManager

    app = f'"{role}"'
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA}")
    op.execute(f"SET LOCAL search_path TO {QUEUE_SCHEMA}")
    _run_script(SchemaManager.get_schema())
    op.execute("RESET search_path")
    op.execute(f"GRANT USAGE ON SCHEMA {QUEUE_SCHEMA} TO {app}")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {QUEUE_SCHEMA} TO {app}"
    )
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {QUEUE_SCHEMA} TO {app}")
    op.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {QUEUE_SCHEMA} TO {app}")
    op.execute(f"GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA {QUEUE_SCHEMA} TO {app}")


def _run_script(sql: str) -> None:
    """Several statements at once, through the driver's simple query protocol (asyncpg),
    inside the migration's transaction."""
    from sqlalchemy.util import await_only

    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(sql))


def downgrade() -> None:
    if _is_pg():
        op.execute(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE")
        op.execute(f"DROP FUNCTION IF EXISTS {DUE}")
    op.drop_index(op.f("ix_connections_next_run_at"), table_name="connections")
    op.drop_table("connections")
    op.drop_table("credentials")
