"""Intelligence jobs: on PostgreSQL, ``pie_tenant_ids()``, the one function that lets the
application role see which tenants exist (their ids only: no names, no keys), so the job
queue's periodic stall check (``pie.stall_check``) can visit every tenant; row-level security
still confines each tenant's check to its own rows. Nothing on SQLite (one owner, no RLS).

Revision ID: 0008_intel_settings
Revises: 0006_tombstones
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008_intel_settings"
down_revision: str | None = "0006_tombstones"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_IDS = "pie_tenant_ids()"


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _app_role() -> str:
    role = str(context.config.attributes.get("app_role", "pie_app"))
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"invalid app role name {role!r}")
    return role


def _schema() -> str:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    if not _is_pg():
        return
    app, schema = f'"{_app_role()}"', _schema()
    op.execute(
        f"""
        CREATE FUNCTION pie_tenant_ids()
        RETURNS TABLE (id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
        AS $$ SELECT t.id FROM {schema}.tenants AS t ORDER BY t.created_at, t.id $$
        """
    )
    op.execute(f"REVOKE EXECUTE ON FUNCTION {TENANT_IDS} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {TENANT_IDS} TO {app}")


def downgrade() -> None:
    if _is_pg():
        op.execute(f"DROP FUNCTION IF EXISTS {TENANT_IDS}")
