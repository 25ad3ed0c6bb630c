"""An index on ``stage_transitions.trigger_activity_id``.

The foreign key to ``activities`` sets the column to NULL when its activity is deleted; without
an index each deleted activity scanned every stage transition (deleting 33,000 activities of
a 3,000-deal store took 20 s on PostgreSQL). SQLite's foreign-key actions need the same index.

Revision ID: 0009_trigger_index
Revises: 0008_intel_settings
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_trigger_index"
down_revision: str | None = "0008_intel_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_stage_transitions_trigger_activity_id"


def upgrade() -> None:
    op.create_index(INDEX, "stage_transitions", ["trigger_activity_id"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="stage_transitions")
