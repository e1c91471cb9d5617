"""logg: indexes for the filters of GET /stafettlogger/{id}/entries (type, refers_to), so each is
an index range in seq order, never a scan of the log.

Revision ID: 0004_entry_filters
Revises: 0003_stafettlogg_domain
Create Date: 2025-02-10
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_entry_filters"
down_revision: str | None = "0003_stafettlogg_domain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_entry_log_type_seq", "entry", ["stafettlogg_id", "type", "seq"])
    op.create_index("ix_entry_log_refers_to_seq", "entry", ["stafettlogg_id", "refers_to", "seq"])


def downgrade() -> None:
    op.drop_index("ix_entry_log_refers_to_seq", table_name="entry")
    op.drop_index("ix_entry_log_type_seq", table_name="entry")
