"""logg: an index for the measures due for evaluation across a caller's logs
(GET /tiltak/forfall, services.logg.due_measures): a log's measures by due date, an index range
per log instead of a walk of every measure.

Revision ID: 0007_due_measures
Revises: 0006_erasure
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_due_measures"
down_revision: str | None = "0006_erasure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_entry_log_type_due", "entry", ["stafettlogg_id", "type", "due_on"])


def downgrade() -> None:
    op.drop_index("ix_entry_log_type_due", table_name="entry")
