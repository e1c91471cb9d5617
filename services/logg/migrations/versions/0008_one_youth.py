"""logg: at most one young person per stafettlogg (a log is about one child). A partial unique
index on participant (stafettlogg_id) where youth. Fails if a log already has two young persons:
decide which one stays and remove the other before upgrading.

Revision ID: 0008_one_youth
Revises: 0007_due_measures
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_one_youth"
down_revision: str | None = "0007_due_measures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_participant_youth",
        "participant",
        ["stafettlogg_id"],
        unique=True,
        sqlite_where=sa.text("youth"),
        postgresql_where=sa.text("youth"),
    )


def downgrade() -> None:
    op.drop_index("uq_participant_youth", table_name="participant")
