"""auth: e-mail notifications: each person's address and choice, the feed cursor, reminders sent
and the outbox (services.auth.notifications.store).

Revision ID: 0005_notifications
Revises: 0004_sessions_ratelimits
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_notifications"
down_revision: str | None = "0004_sessions_ratelimits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column(
            "subject",
            sa.String(32),
            sa.ForeignKey("persons.subject", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("language", sa.String(8), nullable=False, server_default="nb"),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notification_cursors",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notification_reminders",
        sa.Column("stafettlogg_id", sa.String(64), primary_key=True),
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("due_on", sa.String(10), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "subject",
            sa.String(32),
            sa.ForeignKey("persons.subject", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("subject", "kind", name="uq_notification_outbox"),
    )


def downgrade() -> None:
    op.drop_table("notification_outbox")
    op.drop_table("notification_reminders")
    op.drop_table("notification_cursors")
    op.drop_table("notification_preferences")
