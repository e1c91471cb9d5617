"""auth: service-token signing keys rotate (generation, signs_from); used access token ids.

Existing keys are numbered in the order they were created and sign from their creation time, so
the newest existing key keeps signing until the first rotation.

Revision ID: 0003_token_key_rotation
Revises: 0002_staff_directory
Create Date: 2025-02-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_token_key_rotation"
down_revision: str | None = "0002_staff_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("generation", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("signs_from", sa.BigInteger(), nullable=True))
    keys = sa.table(
        "signing_keys",
        sa.column("kid", sa.String()),
        sa.column("created_at", sa.BigInteger()),
        sa.column("generation", sa.BigInteger()),
        sa.column("signs_from", sa.BigInteger()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(keys.c.kid, keys.c.created_at).order_by(keys.c.created_at, keys.c.kid)
    ).all()
    for generation, (kid, created_at) in enumerate(rows, start=1):
        connection.execute(
            keys.update()
            .where(keys.c.kid == kid)
            .values(generation=generation, signs_from=created_at)
        )
    with op.batch_alter_table("signing_keys") as batch:
        batch.alter_column("generation", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("signs_from", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint("uq_signing_keys_generation", ["generation"])
    op.create_table(
        "used_access_tokens",
        sa.Column("jti_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_used_access_tokens_expires_at", "used_access_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_access_tokens_expires_at", table_name="used_access_tokens")
    op.drop_table("used_access_tokens")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_constraint("uq_signing_keys_generation", type_="unique")
        batch.drop_column("signs_from")
        batch.drop_column("generation")
