"""Live data: record versions and field provenance, the change feed, source cursors, the model
cache and the tenant's field ownership policy; external refs become the only home of source
ids (the ``external_ids`` columns move there and go) and are deleted with their records.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
VERSIONED = ("accounts", "contacts", "deals", "stakeholders")
WITH_EXTERNAL_IDS = {"accounts": "account", "contacts": "contact", "deals": "deal"}
WITH_EXTERNAL_IDS_ALSO = {"activities": "activity"}
#: table -> the entity kind its external refs are filed under
REF_KINDS = {
    "accounts": "account",
    "contacts": "contact",
    "deals": "deal",
    "stakeholders": "stakeholder",
    "activities": "activity",
    "stage_transitions": "stage_transition",
}
NEW_TABLES = ("changes", "change_counters", "source_cursors", "model_cache", "field_policies")
CURRENT_TENANT = "NULLIF(current_setting('pie.tenant_id', true), '')::uuid"


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    _create_tables()
    for table in VERSIONED:
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        op.add_column(table, sa.Column("provenance", JSON, nullable=False, server_default="{}"))
    if _is_pg():
        _with_rls_lifted(("external_refs", *REF_KINDS), _move_external_ids)
    else:
        _move_external_ids()
    for table in (*WITH_EXTERNAL_IDS, *WITH_EXTERNAL_IDS_ALSO):
        op.execute(f"ALTER TABLE {table} DROP COLUMN external_ids")
    _create_ref_triggers()
    if _is_pg():
        _secure_postgresql(_app_role())


def _create_tables() -> None:
    def tenant_fk(table: str) -> sa.ForeignKeyConstraint:
        return sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        )

    op.create_table(
        "changes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        tenant_fk("changes"),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_changes")),
    )
    op.create_index(
        op.f("ix_changes_tenant_id_entity_seq"), "changes", ["tenant_id", "entity", "seq"]
    )
    op.create_table(
        "change_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        tenant_fk("change_counters"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_change_counters")),
    )
    op.create_table(
        "source_cursors",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("committed_at", TIMESTAMP, nullable=False),
        tenant_fk("source_cursors"),
        sa.PrimaryKeyConstraint("tenant_id", "source", "stream", name=op.f("pk_source_cursors")),
    )
    op.create_table(
        "model_cache",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        tenant_fk("model_cache"),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_model_cache")),
    )
    op.create_table(
        "field_policies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        tenant_fk("field_policies"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_field_policies")),
    )


def _move_external_ids() -> None:
    """Every source id a record's ``external_ids`` held becomes an external ref (those already
    there stay), and refs whose record is gone are deleted."""
    for table, kind in {**WITH_EXTERNAL_IDS, **WITH_EXTERNAL_IDS_ALSO}.items():
        if _is_pg():
            op.execute(
                f"""
                INSERT INTO external_refs (tenant_id, kind, source, external_id, entity_id)
                SELECT t.tenant_id, '{kind}', e.key, e.value, t.id
                FROM {table} AS t, jsonb_each_text(t.external_ids) AS e
                ON CONFLICT DO NOTHING
                """
            )
        else:
            op.execute(
                f"""
                INSERT OR IGNORE INTO external_refs (tenant_id, kind, source, external_id,
                                                     entity_id)
                SELECT t.tenant_id, '{kind}', e.key, e.value, t.id
                FROM {table} AS t, json_each(t.external_ids) AS e
                """
            )
    for table, kind in REF_KINDS.items():
        op.execute(
            f"""
            DELETE FROM external_refs WHERE kind = '{kind}' AND NOT EXISTS (
              SELECT 1 FROM {table} AS t
              WHERE t.id = external_refs.entity_id AND t.tenant_id = external_refs.tenant_id)
            """
        )


def _create_ref_triggers() -> None:
    if _is_pg():
        op.execute(
            """
            CREATE FUNCTION pie_drop_refs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              DELETE FROM external_refs AS r USING gone AS g
              WHERE r.tenant_id = g.tenant_id AND r.kind = TG_ARGV[0] AND r.entity_id = g.id;
              RETURN NULL;
            END $$
            """
        )
        for table, kind in REF_KINDS.items():
            op.execute(
                f"CREATE TRIGGER pie_drop_refs AFTER DELETE ON {table} "
                "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
                f"EXECUTE FUNCTION pie_drop_refs('{kind}')"
            )
        return
    for table, kind in REF_KINDS.items():
        op.execute(
            f"""
            CREATE TRIGGER pie_drop_refs_{table} AFTER DELETE ON {table} FOR EACH ROW BEGIN
              DELETE FROM external_refs
              WHERE tenant_id = OLD.tenant_id AND kind = '{kind}' AND entity_id = OLD.id;
            END
            """
        )


def _with_rls_lifted(tables: Sequence[str], move: object) -> None:
    """Run the data move with FORCE lifted, so an owner that is not a superuser sees every
    tenant's rows (row-level security would show it none)."""
    for table in tables:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    assert callable(move)
    move()
    for table in tables:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _app_role() -> str:
    role = str(context.config.attributes.get("app_role", "pie_app"))
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"invalid app role name {role!r}")
    return role


def _secure_postgresql(role: str) -> None:
    app = f'"{role}"'
    for table in NEW_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY pie_tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")


def downgrade() -> None:
    pg = _is_pg()
    for table in REF_KINDS:
        if pg:
            op.execute(f"DROP TRIGGER IF EXISTS pie_drop_refs ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS pie_drop_refs_{table}")
    if pg:
        op.execute("DROP FUNCTION IF EXISTS pie_drop_refs()")
    for table, kind in {**WITH_EXTERNAL_IDS, **WITH_EXTERNAL_IDS_ALSO}.items():
        op.add_column(table, sa.Column("external_ids", JSON, nullable=False, server_default="{}"))
        if pg:
            op.execute(
                f"""
                UPDATE {table} AS t SET external_ids = coalesce((
                  SELECT jsonb_object_agg(r.source, r.external_id) FROM external_refs AS r
                  WHERE r.tenant_id = t.tenant_id AND r.kind = '{kind}' AND r.entity_id = t.id
                ), '{{}}'::jsonb)
                """
            )
        else:
            op.execute(
                f"""
                UPDATE {table} SET external_ids = coalesce((
                  SELECT json_group_object(r.source, r.external_id) FROM external_refs AS r
                  WHERE r.tenant_id = {table}.tenant_id AND r.kind = '{kind}'
                    AND r.entity_id = {table}.id
                ), '{{}}')
                """
            )
    for table in VERSIONED:
        op.execute(f"ALTER TABLE {table} DROP COLUMN provenance")
        op.execute(f"ALTER TABLE {table} DROP COLUMN version")
    op.drop_table("field_policies")
    op.drop_table("model_cache")
    op.drop_table("source_cursors")
    op.drop_table("change_counters")
    op.drop_index(op.f("ix_changes_tenant_id_entity_seq"), table_name="changes")
    op.drop_table("changes")
