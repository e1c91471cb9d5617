"""The first logg schema: stafettlogg, participant, key_grant, entry.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 64


def upgrade() -> None:
    op.create_table(
        "stafettlogg",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("current_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("coordinator", sa.String(_ID), nullable=False),
        sa.Column("sealed_description", sa.LargeBinary(), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("id", name="uq_stafettlogg_id"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_stafettlogg_status"),
        sa.CheckConstraint("level BETWEEN 0 AND 3", name="ck_stafettlogg_level"),
    )
    op.create_table(
        "participant",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "stafettlogg_id",
            sa.String(_ID),
            sa.ForeignKey("stafettlogg.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("principal_id", sa.String(_ID), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("stafettlogg_id", "kind", "principal_id", name="uq_participant"),
        sa.CheckConstraint("kind IN ('person', 'service')", name="ck_participant_kind"),
        sa.CheckConstraint(
            "role IN ('coordinator', 'writer', 'reader')", name="ck_participant_role"
        ),
    )
    op.create_index(
        "ix_participant_principal", "participant", ["kind", "principal_id", "stafettlogg_id"]
    )
    op.create_table(
        "key_grant",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "stafettlogg_id",
            sa.String(_ID),
            sa.ForeignKey("stafettlogg.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.String(_ID), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint(
            "stafettlogg_id", "recipient_kind", "recipient_id", "epoch", name="uq_key_grant"
        ),
    )
    op.create_table(
        "entry",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(_ID), nullable=False),
        sa.Column(
            "stafettlogg_id",
            sa.String(_ID),
            sa.ForeignKey("stafettlogg.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(_ID), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("author_sign_key", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("stafettlogg_id", "id", name="uq_entry_id"),
    )
    op.create_index("ix_entry_log_seq", "entry", ["stafettlogg_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_entry_log_seq", table_name="entry")
    op.drop_table("entry")
    op.drop_table("key_grant")
    op.drop_index("ix_participant_principal", table_name="participant")
    op.drop_table("participant")
    op.drop_table("stafettlogg")
