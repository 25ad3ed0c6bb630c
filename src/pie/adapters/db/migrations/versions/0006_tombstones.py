"""Tombstone refs go: ``external_refs`` holds the refs of live records only.

Until now a record a source deleted kept its external ref (the sink wrote it again after the
delete, and the Salesforce reconciliation marked it with the digest ``deleted``). Nothing
needs those tombstones (see docs/pipeline.md, "Deletes"): a delete that finds no ref is a
no-op, and an undeleted record gets back the id derived from its external id. This drops
every ref whose record is gone; from now on the sink writes refs before deletes and the
``pie_drop_refs`` triggers (0002) take a record's refs with it.

Revision ID: 0006_tombstones
Revises: 0005_connections
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_tombstones"
down_revision: str | None = "0005_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> the entity kind its external refs are filed under (as in 0002)
REF_KINDS = {
    "accounts": "account",
    "contacts": "contact",
    "deals": "deal",
    "stakeholders": "stakeholder",
    "activities": "activity",
    "stage_transitions": "stage_transition",
}


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:  # as in 0002: an owner that is not a superuser sees every tenant's rows
        op.execute("ALTER TABLE external_refs NO FORCE ROW LEVEL SECURITY")
        for table in REF_KINDS:
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for table, kind in REF_KINDS.items():
        op.execute(
            f"""
            DELETE FROM external_refs WHERE kind = '{kind}' AND NOT EXISTS (
              SELECT 1 FROM {table} AS t
              WHERE t.id = external_refs.entity_id AND t.tenant_id = external_refs.tenant_id)
            """
        )
    if pg:
        op.execute("ALTER TABLE external_refs FORCE ROW LEVEL SECURITY")
        for table in REF_KINDS:
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    """Nothing to undo: the dropped refs pointed at nothing."""
