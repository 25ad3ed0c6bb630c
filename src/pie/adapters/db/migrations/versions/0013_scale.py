"""Indexes for reading a tenant's deals as columns in one ordered pass (``columns.py``).

``deals (tenant_id, id)``: the deals of a tenant come in id order straight from the index,
instead of every row being sorted in a temporary B-tree (1,000,000 deals: a sort spilled to
disk). ``external_refs (tenant_id, kind, entity_id)`` gains ``source`` and ``external_id``
and replaces the narrower index: a deal's stream identity (its own source's ref) is then
read from the index alone, without a lookup of the ref's row per deal.

Revision ID: 0013_scale
Revises: 0010_import_speed
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_scale"
down_revision: str | None = "0010_import_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEALS = "ix_deals_tenant_id_id"
REFS_BEFORE = "ix_external_refs_tenant_id_kind_entity_id"
REFS = "ix_external_refs_tenant_id_kind_entity_id_source_external_id"


def upgrade() -> None:
    op.create_index(DEALS, "deals", ["tenant_id", "id"], unique=False)
    op.create_index(
        REFS, "external_refs", ["tenant_id", "kind", "entity_id", "source", "external_id"]
    )
    op.drop_index(REFS_BEFORE, table_name="external_refs")


def downgrade() -> None:
    op.create_index(REFS_BEFORE, "external_refs", ["tenant_id", "kind", "entity_id"])
    op.drop_index(REFS, table_name="external_refs")
    op.drop_index(DEALS, table_name="deals")
