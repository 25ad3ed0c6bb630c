"""Deal intelligence: activity extractions (one per activity version), stakeholder profiles and
relationships, stage-transition evidence, plan narratives and versions, and per-tenant
progression settings; existing untyped qualification snapshots and plan criteria become the
typed, evidence-carrying shape.

Revision ID: 0003_intelligence
Revises: 0002
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0003_intelligence"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NEW_TABLES = (
    "activity_intel",
    "stakeholder_profiles",
    "stakeholder_relationships",
    "transition_evidence",
    "plan_narratives",
    "plan_versions",
    "intelligence_settings",
)
CURRENT_TENANT = "NULLIF(current_setting('pie.tenant_id', true), '')::uuid"


def _is_pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    _create_tables()
    if _is_pg():
        _with_rls_lifted(("deals", "opportunity_plans"), _type_existing_data)
        _secure_postgresql(_app_role())
    else:
        _type_existing_data()


def _create_tables() -> None:
    op.create_table(
        "activity_intel",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("extractor", sa.String(length=64), nullable=False),
        sa.Column("extraction", JSON, nullable=False),
        sa.Column("enrichment", JSON, nullable=False),
        sa.Column("warnings", JSON, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=False),
        _fk("activity_intel", "activity_id", "activities", "CASCADE"),
        _tenant_fk("activity_intel"),
        sa.PrimaryKeyConstraint("tenant_id", "activity_id", name=op.f("pk_activity_intel")),
    )
    op.create_table(
        "stakeholder_profiles",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("stakeholder_id", sa.Uuid(), nullable=False),
        sa.Column("scores", JSON, nullable=False),
        sa.Column("history", JSON, nullable=False),
        sa.Column("communication_style", sa.String(), nullable=True),
        sa.Column("style_evidence", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fk("stakeholder_profiles", "stakeholder_id", "stakeholders", "CASCADE"),
        _tenant_fk("stakeholder_profiles"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "stakeholder_id", name=op.f("pk_stakeholder_profiles")
        ),
    )
    op.create_table(
        "stakeholder_relationships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("from_id", sa.Uuid(), nullable=False),
        sa.Column("to_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        _fk("stakeholder_relationships", "activity_id", "activities", "SET NULL"),
        _fk("stakeholder_relationships", "from_id", "stakeholders", "CASCADE"),
        _fk("stakeholder_relationships", "to_id", "stakeholders", "CASCADE"),
        _tenant_fk("stakeholder_relationships"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stakeholder_relationships")),
        sa.UniqueConstraint(
            "tenant_id",
            "from_id",
            "to_id",
            "kind",
            name=op.f("uq_stakeholder_relationships_tenant_id_from_id_to_id_kind"),
        ),
    )
    op.create_index(
        op.f("ix_stakeholder_relationships_tenant_id_to_id"),
        "stakeholder_relationships",
        ["tenant_id", "to_id"],
    )
    op.create_table(
        "transition_evidence",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("transition_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        _fk("transition_evidence", "transition_id", "stage_transitions", "CASCADE"),
        _tenant_fk("transition_evidence"),
        sa.PrimaryKeyConstraint("tenant_id", "transition_id", name=op.f("pk_transition_evidence")),
    )
    op.create_table(
        "plan_narratives",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("inputs_digest", sa.String(length=64), nullable=False),
        sa.Column("writer", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _tenant_fk("plan_narratives"),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "owner_id", name=op.f("pk_plan_narratives")),
    )
    op.create_table(
        "plan_versions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("saved_at", TIMESTAMP, nullable=False),
        _tenant_fk("plan_versions"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "kind", "owner_id", "version", name=op.f("pk_plan_versions")
        ),
    )
    op.create_table(
        "intelligence_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _tenant_fk("intelligence_settings"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_intelligence_settings")),
    )


# --- existing data: untyped qualification and plan criteria become typed ---------------------
# Frozen here (not imported from pie) so the migration keeps doing what it did when PIE's
# models move on.

QUALIFICATION_FIELDS = (
    "budget",
    "authority",
    "need",
    "timeline",
    "metrics",
    "economic_buyer",
    "decision_criteria",
    "decision_process",
    "identify_pain",
    "champion",
)
_ALIASES = {"pain": "identify_pain", "eb": "economic_buyer", "economic buyer": "economic_buyer"}


def typed_qualification(old: object) -> tuple[dict[str, object], dict[str, object]]:
    """A legacy snapshot (``{"budget": "50k", "champion": true, ...}``) as the typed shape
    (``pie.domain.intelligence.Qualification``) plus the keys that are no BANT/MEDDIC field
    (they move to the deal's ``custom_fields["qualification_notes"]``). Each known key becomes
    a field whose value is the old value as text, with no evidence (there was none) and
    confidence 0.5. A snapshot already typed is returned as it is."""
    if not isinstance(old, dict) or not old:
        return {}, {}
    if all(
        k in QUALIFICATION_FIELDS and (v is None or (isinstance(v, dict) and "value" in v))
        for k, v in old.items()
    ):
        return old, {}
    fields: dict[str, object] = {}
    notes: dict[str, object] = {}
    for key, value in old.items():
        name = _ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
        if name in QUALIFICATION_FIELDS and value not in (None, "", False, [], {}):
            text = value if isinstance(value, str) else _text(value)
            fields[name] = {"value": text[:500], "confidence": 0.5, "by_human": False}
        else:
            notes[str(key)] = value
    return fields, notes


def _text(value: object) -> str:
    if isinstance(value, dict):
        for key in ("value", "text", "evidence", "summary"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
    return "yes" if value is True else str(value)


def typed_plan(old: object) -> object:
    """An opportunity plan whose criteria carry ``evidence`` as a bare string: the string
    becomes one evidence item ``{"quote": ...}`` with no activity or span (it never had one)."""
    if not isinstance(old, dict):
        return old
    tracking = old.get("qualification_tracking")
    if not isinstance(tracking, dict):
        return old
    for criterion in tracking.values():
        if isinstance(criterion, dict) and isinstance(criterion.get("evidence"), str):
            criterion["evidence"] = [{"quote": criterion["evidence"]}]
        elif isinstance(criterion, dict) and criterion.get("evidence") is None:
            criterion["evidence"] = []
    return old


def _type_existing_data() -> None:
    bind = op.get_bind()
    deals = sa.table(
        "deals",
        sa.column("id", sa.Uuid()),
        sa.column("qualification", JSON),
        sa.column("custom_fields", JSON),
    )
    rows = bind.execute(sa.select(deals.c.id, deals.c.qualification, deals.c.custom_fields))
    for ident, value, custom in rows.all():
        typed, notes = typed_qualification(value)
        if typed != value:
            values: dict[str, object] = {"qualification": typed}
            if notes:
                values["custom_fields"] = {**(custom or {}), "qualification_notes": notes}
            bind.execute(deals.update().where(deals.c.id == ident).values(**values))
    plans = sa.table("opportunity_plans", sa.column("id", sa.Uuid()), sa.column("data", JSON))
    for ident, value in bind.execute(sa.select(plans.c.id, plans.c.data)).all():
        before = repr(value)
        new = typed_plan(value)
        if repr(new) != before:
            bind.execute(plans.update().where(plans.c.id == ident).values(data=new))


def _with_rls_lifted(tables: Sequence[str], move: Callable[[], None]) -> None:
    for table in tables:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
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
    # The typed qualification stays as it is: it is JSON the older schema stores as well.
    op.drop_table("intelligence_settings")
    op.drop_table("plan_versions")
    op.drop_table("plan_narratives")
    op.drop_table("transition_evidence")
    op.drop_index(
        op.f("ix_stakeholder_relationships_tenant_id_to_id"),
        table_name="stakeholder_relationships",
    )
    op.drop_table("stakeholder_relationships")
    op.drop_table("stakeholder_profiles")
    op.drop_table("activity_intel")
