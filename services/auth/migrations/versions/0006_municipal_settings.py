"""auth: the municipality's settings (age for own consent, retention of closed logs).

Revision ID: 0006_municipal_settings
Revises: 0005_notifications
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_municipal_settings"
down_revision: str | None = "0005_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "municipal_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("youth_consent_age", sa.Integer(), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("municipal_settings")
