"""Initial schema: the unified deal store, its tenants and API keys; on PostgreSQL also
row-level security, the app role's grants and the two SECURITY DEFINER lookup functions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here (not imported from the package's types) so this revision never changes
# when the code does. The package's UtcDateTime and Money decorate exactly these.
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 2)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql(_app_role())


def _create_tables() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("domain", sa.String(), nullable=True),
        sa.Column("industry", sa.String(), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("annual_revenue", MONEY, nullable=True),
        sa.Column("country", sa.String(), nullable=True),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("external_ids", JSON, nullable=False),
        sa.Column("custom_fields", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_accounts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_index(
        op.f("ix_accounts_tenant_id_name"), "accounts", ["tenant_id", "name"], unique=False
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False)
    op.create_table(
        "external_refs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_external_refs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "kind", "source", "external_id", name=op.f("pk_external_refs")
        ),
    )
    op.create_index(
        op.f("ix_external_refs_tenant_id_kind_entity_id"),
        "external_refs",
        ["tenant_id", "kind", "entity_id"],
        unique=False,
    )
    op.create_table(
        "account_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_plans_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_account_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_plans")),
        sa.UniqueConstraint(
            "tenant_id", "account_id", name=op.f("uq_account_plans_tenant_id_account_id")
        ),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("department", sa.String(), nullable=True),
        sa.Column("external_ids", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contacts_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contacts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(
        op.f("ix_contacts_tenant_id_account_id"),
        "contacts",
        ["tenant_id", "account_id"],
        unique=False,
    )
    op.create_table(
        "deals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("value", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source_stage", sa.String(), nullable=True),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("product_line", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("lead_source", sa.String(), nullable=True),
        sa.Column("detection_confidence", sa.Double(), nullable=True),
        sa.Column("qualification", JSON, nullable=False),
        sa.Column("custom_fields", JSON, nullable=False),
        sa.Column("external_ids", JSON, nullable=False),
        sa.Column("lost_reason", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_deals_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_deals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    op.create_index(
        op.f("ix_deals_tenant_id_account_id"), "deals", ["tenant_id", "account_id"], unique=False
    )
    op.create_index(
        op.f("ix_deals_tenant_id_created_at"), "deals", ["tenant_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_deals_tenant_id_stage"), "deals", ["tenant_id", "stage"], unique=False)
    op.create_table(
        "activities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("participants", JSON, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("key_moments", JSON, nullable=False),
        sa.Column("next_steps", JSON, nullable=False),
        sa.Column("objections", JSON, nullable=False),
        sa.Column("raw_content", sa.Text(), nullable=True),
        sa.Column("external_ids", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_activities_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_activities_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_activities_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    op.create_index(
        op.f("ix_activities_tenant_id_account_id"),
        "activities",
        ["tenant_id", "account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_tenant_id_deal_id_occurred_at"),
        "activities",
        ["tenant_id", "deal_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "opportunity_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_opportunity_plans_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_opportunity_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_plans")),
        sa.UniqueConstraint(
            "tenant_id", "deal_id", name=op.f("uq_opportunity_plans_tenant_id_deal_id")
        ),
    )
    op.create_table(
        "stakeholders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("roles", JSON, nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("sentiment", sa.Double(), nullable=True),
        sa.Column("engagement", sa.Double(), nullable=True),
        sa.Column("scores", JSON, nullable=False),
        sa.Column("score_sources", JSON, nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_stakeholders_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_stakeholders_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_stakeholders_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_stakeholders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stakeholders")),
    )
    op.create_index(
        op.f("ix_stakeholders_tenant_id_account_id"),
        "stakeholders",
        ["tenant_id", "account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stakeholders_tenant_id_contact_id"),
        "stakeholders",
        ["tenant_id", "contact_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stakeholders_tenant_id_deal_id"),
        "stakeholders",
        ["tenant_id", "deal_id"],
        unique=False,
    )
    op.create_table(
        "stage_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("from_stage", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=32), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("days_in_from_stage", sa.Double(), nullable=True),
        sa.Column("trigger_activity_id", sa.Uuid(), nullable=True),
        sa.Column("value", MONEY, nullable=True),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_stage_transitions_deal_id_deals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_stage_transitions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_activity_id"],
            ["activities.id"],
            name=op.f("fk_stage_transitions_trigger_activity_id_activities"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_transitions")),
    )
    op.create_index(
        op.f("ix_stage_transitions_tenant_id_deal_id_at"),
        "stage_transitions",
        ["tenant_id", "deal_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unsecure_postgresql(_app_role())
    _drop_tables()


def _drop_tables() -> None:
    op.drop_index(op.f("ix_stage_transitions_tenant_id_deal_id_at"), table_name="stage_transitions")
    op.drop_table("stage_transitions")
    op.drop_index(op.f("ix_stakeholders_tenant_id_deal_id"), table_name="stakeholders")
    op.drop_index(op.f("ix_stakeholders_tenant_id_contact_id"), table_name="stakeholders")
    op.drop_index(op.f("ix_stakeholders_tenant_id_account_id"), table_name="stakeholders")
    op.drop_table("stakeholders")
    op.drop_table("opportunity_plans")
    op.drop_index(op.f("ix_activities_tenant_id_deal_id_occurred_at"), table_name="activities")
    op.drop_index(op.f("ix_activities_tenant_id_account_id"), table_name="activities")
    op.drop_table("activities")
    op.drop_index(op.f("ix_deals_tenant_id_stage"), table_name="deals")
    op.drop_index(op.f("ix_deals_tenant_id_created_at"), table_name="deals")
    op.drop_index(op.f("ix_deals_tenant_id_account_id"), table_name="deals")
    op.drop_table("deals")
    op.drop_index(op.f("ix_contacts_tenant_id_account_id"), table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("account_plans")
    op.drop_index(op.f("ix_external_refs_tenant_id_kind_entity_id"), table_name="external_refs")
    op.drop_table("external_refs")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_accounts_tenant_id_name"), table_name="accounts")
    op.drop_table("accounts")
    op.drop_table("tenants")


# --- PostgreSQL: row-level security, the app role and its grants, lookup functions -------------

TENANT_TABLES = (
    "api_keys",
    "accounts",
    "contacts",
    "deals",
    "stakeholders",
    "activities",
    "stage_transitions",
    "external_refs",
    "account_plans",
    "opportunity_plans",
)
CURRENT_TENANT = "NULLIF(current_setting('pie.tenant_id', true), '')::uuid"
FUNCTIONS = ("pie_authenticate(text)", "pie_tenant_by_name(text)")


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
    op.execute(
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
            IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
              CREATE ROLE {app} LOGIN;
            ELSE
              RAISE EXCEPTION 'role % does not exist and % may not create it: create it first',
                '{role}', current_user;
            END IF;
          END IF;
        END $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {app}")
    op.execute(f"GRANT SELECT ON alembic_version TO {app}")
    for table, column in (("tenants", "id"), *((t, "tenant_id") for t in TENANT_TABLES)):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY pie_tenant_isolation ON {table} "
            f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")
    # The SECURITY DEFINER functions below run as the tables' owner, which FORCE subjects to
    # row-level security too: let the owner (and only the owner) read keys and tenant names.
    for table in ("tenants", "api_keys"):
        op.execute(
            f"CREATE POLICY pie_owner_lookup ON {table} FOR SELECT TO CURRENT_USER USING (true)"
        )
    op.execute(
        f"""
        CREATE FUNCTION pie_authenticate(key_hash text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
        AS $$
          SELECT k.tenant_id FROM {schema}.api_keys AS k
          WHERE k.key_hash = $1 AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION pie_tenant_by_name(name text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp
        AS $$ SELECT t.id FROM {schema}.tenants AS t WHERE t.name = $1 $$
        """
    )
    for function in FUNCTIONS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {app}")


def _unsecure_postgresql(role: str) -> None:
    app = f'"{role}"'
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    exists = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    )
    if exists.first() is not None:
        op.execute(f"REVOKE SELECT ON alembic_version FROM {app}")
        op.execute(f"REVOKE USAGE ON SCHEMA {_schema()} FROM {app}")
    # Policies and table grants go with the tables.
