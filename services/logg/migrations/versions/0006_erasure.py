"""logg: erasure (crypto-shredding) leaves an `erasure` record of what was destroyed, when, by
whom and why; a consent record says whether the service may read the log's history (earlier key
epochs).

Revision ID: 0006_erasure
Revises: 0005_epoch_rotation
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_erasure"
down_revision: str | None = "0005_epoch_rotation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "consent",
        sa.Column("history", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "erasure",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("stafettlogg_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("log_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("log_closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("stafettlogg_id", "entry_id", name="uq_erasure_target"),
        sa.CheckConstraint("scope IN ('stafettlogg', 'entry')", name="ck_erasure_scope"),
    )
    op.create_index("ix_erasure_log", "erasure", ["stafettlogg_id"])


def downgrade() -> None:
    op.drop_index("ix_erasure_log", table_name="erasure")
    op.drop_table("erasure")
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("history")
