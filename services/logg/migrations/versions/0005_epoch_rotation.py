"""logg: key epochs rotate when a participant leaves — a flag on the log set when a participant
is removed or a service's consent is withdrawn (its key grants are deleted then), cleared when
the next epoch is granted to those who remain (POST /stafettlogger/{id}/epochs).

Revision ID: 0005_epoch_rotation
Revises: 0004_entry_filters
Create Date: 2025-02-11
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_epoch_rotation"
down_revision: str | None = "0004_entry_filters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stafettlogg",
        sa.Column("rotation_required", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("stafettlogg") as batch:
        batch.drop_column("rotation_required")
