"""Two-way CRM sync: per connection the inbound cursors and outbox position (sync_state), the
external id map (sync_links), the last agreed value per record and field (sync_base) and the
log of conflicts (sync_log); row-level security on tenant_id.

Revision ID: 0004_sync
Revises: 0002
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0004_sync"
down_revision: str | None = "0003_intelligence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TABLES = ("sync_state", "sync_links", "sync_base", "sync_log")
CURRENT_TENANT = "NULLIF(current_setting('pie.tenant_id', true), '')::uuid"


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("cursors", JSON, nullable=False),
        sa.Column("outbox_seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("last_run_at", TIMESTAMP, nullable=True),
        sa.Column("counters", JSON, nullable=False),
        _fk("sync_state"),
        sa.PrimaryKeyConstraint("tenant_id", "connection", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "sync_links",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pie_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("remote_edited_time", TIMESTAMP, nullable=True),
        sa.Column("remote_edited_by", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _fk("sync_links"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "connection", "kind", "pie_id", name=op.f("pk_sync_links")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "connection",
            "kind",
            "external_id",
            name=op.f("uq_sync_links_tenant_id_connection_kind_external_id"),
        ),
    )
    op.create_table(
        "sync_base",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pie_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=True),
        _fk("sync_base"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "connection", "kind", "pie_id", "field", name=op.f("pk_sync_base")
        ),
    )
    op.create_table(
        "sync_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pie_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("divergence", sa.String(length=64), nullable=False),
        sa.Column("base", JSON, nullable=True),
        sa.Column("local", JSON, nullable=True),
        sa.Column("remote", JSON, nullable=True),
        sa.Column("winner", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("local_time", TIMESTAMP, nullable=True),
        sa.Column("remote_time", TIMESTAMP, nullable=True),
        sa.Column("skew_seconds", sa.Double(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        _fk("sync_log"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_log")),
        sa.UniqueConstraint(
            "tenant_id",
            "connection",
            "kind",
            "pie_id",
            "field",
            "divergence",
            name=op.f("uq_sync_log_tenant_id_connection_kind_pie_id_field_divergence"),
        ),
    )
    op.create_index(
        op.f("ix_sync_log_tenant_id_connection_id"), "sync_log", ["tenant_id", "connection", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql(_app_role())


def _app_role() -> str:
    role = str(context.config.attributes.get("app_role", "pie_app"))
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"invalid app role name {role!r}")
    return role


def _secure_postgresql(role: str) -> None:
    app = f'"{role}"'
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY pie_tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE sync_log_id_seq TO {app}")


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_log_tenant_id_connection_id"), table_name="sync_log")
    for table in reversed(TABLES):
        op.drop_table(table)
