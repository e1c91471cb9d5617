"""auth: the staff directory kept by administrators — staff in several service units, the admin
flag, deactivation of persons and units, and the administrators' audit trail.

Revision ID: 0002_staff_directory
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_staff_directory"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_memberships",
        sa.Column(
            "person_subject",
            sa.String(32),
            sa.ForeignKey("persons.subject", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("service_id", sa.String(64), sa.ForeignKey("service_units.id"), primary_key=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_staff_memberships_service_id", "staff_memberships", ["service_id"])
    op.execute(
        "INSERT INTO staff_memberships (person_subject, service_id, created_at) "
        "SELECT subject, service_id, created_at FROM persons WHERE service_id IS NOT NULL"
    )
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("service_id")
        batch.add_column(
            sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("deactivated_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("service_units") as batch:
        batch.add_column(sa.Column("deactivated_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_admin_audit_at", "admin_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_admin_audit_at", table_name="admin_audit")
    op.drop_table("admin_audit")
    with op.batch_alter_table("service_units") as batch:
        batch.drop_column("deactivated_at")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("deactivated_at")
        batch.drop_column("admin")
        batch.add_column(
            sa.Column(
                "service_id",
                sa.String(64),
                sa.ForeignKey("service_units.id", name="fk_persons_service_id"),
                nullable=True,
            )
        )
    # Several units collapse to the oldest membership: the first schema knew only one.
    op.execute(
        "UPDATE persons SET service_id = ("
        "SELECT m.service_id FROM staff_memberships m WHERE m.person_subject = persons.subject "
        "ORDER BY m.created_at, m.service_id LIMIT 1)"
    )
    op.drop_index("ix_staff_memberships_service_id", table_name="staff_memberships")
    op.drop_table("staff_memberships")
