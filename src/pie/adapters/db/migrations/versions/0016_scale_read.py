"""A partial index of the activities with objections, for reading a tenant's deals as columns
(``columns.py``): the deals with objections come from it alone, so every other activity is
read from the ``(tenant_id, deal_id, occurred_at)`` index without its table row (at 1,000,000
deals, 11 million rows read one table page each, in an order unrelated to the file's).
Only the activities with objections (about 1 % in the sample world) have an entry.

Revision ID: 0016_scale_read
Revises: 0013_scale
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_scale_read"
down_revision: str | None = "0013_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_activities_objections"
#: as ``tables.HAS_OBJECTIONS`` at this revision (a migration does not import the models)
SQLITE_WHERE = "json_array_length(objections) > 0"
POSTGRESQL_WHERE = "jsonb_array_length(objections) > 0"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "activities",
        ["tenant_id", "deal_id"],
        sqlite_where=sa.text(SQLITE_WHERE),
        postgresql_where=sa.text(POSTGRESQL_WHERE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="activities")
