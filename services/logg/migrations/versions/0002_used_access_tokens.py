"""logg: the ids of service tokens already used (replay protection on PostgreSQL).

Revision ID: 0002_used_access_tokens
Revises: 0001
Create Date: 2025-02-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_used_access_tokens"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_access_tokens",
        sa.Column("jti_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_used_access_tokens_expires_at", "used_access_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_access_tokens_expires_at", table_name="used_access_tokens")
    op.drop_table("used_access_tokens")
