"""auth: rate limit counters shared by every instance; sessions findable by the provider's sid.

Revision ID: 0004_sessions_ratelimits
Revises: 0003_token_key_rotation
Create Date: 2025-02-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sessions_ratelimits"
down_revision: str | None = "0003_token_key_rotation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.String(64), primary_key=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rate_limit_counters_expires_at", "rate_limit_counters", ["expires_at"])
    op.create_index("ix_sessions_idp_sid", "sessions", ["idp_issuer", "idp_sid"])


def downgrade() -> None:
    op.drop_index("ix_sessions_idp_sid", table_name="sessions")
    op.drop_index("ix_rate_limit_counters_expires_at", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
