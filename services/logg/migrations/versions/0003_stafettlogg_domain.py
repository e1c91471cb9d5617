"""logg: the stafettlogg domain — consent, level history, handover, closing, entry links, and the
hash-chained access log (innsynslogg) with signed heads.

Revision ID: 0003_stafettlogg_domain
Revises: 0002_used_access_tokens
Create Date: 2025-02-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_stafettlogg_domain"
down_revision: str | None = "0002_used_access_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 64
_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _log_fk() -> sa.Column[str]:
    return sa.Column(
        "stafettlogg_id",
        sa.String(_ID),
        sa.ForeignKey("stafettlogg.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.add_column("stafettlogg", sa.Column("level_changed_at", sa.DateTime(timezone=True)))
    op.add_column("stafettlogg", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.add_column("stafettlogg", sa.Column("closed_by", sa.String(_ID)))
    op.add_column("stafettlogg", sa.Column("closing_note_id", sa.String(_ID)))
    op.add_column(
        "participant",
        sa.Column("youth", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("participant", sa.Column("youth_declared_by", sa.String(_ID)))
    op.add_column("entry", sa.Column("refers_to", sa.String(_ID)))
    op.add_column("entry", sa.Column("due_on", sa.Date()))

    op.create_table(
        "consent",
        sa.Column("seq", _BIG_SERIAL, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(_ID), nullable=False),
        _log_fk(),
        sa.Column("service_id", sa.String(_ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("given_by", sa.String(_ID), nullable=False),
        sa.Column("acr", sa.String(128)),
        sa.Column("recorded_by", sa.String(_ID), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(), nullable=False),
        sa.Column("has_scan", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
        sa.Column("withdrawn_by", sa.String(_ID)),
        sa.Column("withdrawal_method", sa.String(16)),
        sa.UniqueConstraint("stafettlogg_id", "id", name="uq_consent_id"),
        sa.CheckConstraint("status IN ('given', 'refused', 'withdrawn')", name="ck_consent_status"),
        sa.CheckConstraint("method IN ('portal', 'paper')", name="ck_consent_method"),
    )
    op.create_index("ix_consent_service", "consent", ["stafettlogg_id", "service_id", "seq"])
    op.create_index("ix_consent_log_seq", "consent", ["stafettlogg_id", "seq"])
    op.create_table(
        "consent_scan",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _log_fk(),
        sa.Column("consent_id", sa.String(_ID), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("stafettlogg_id", "consent_id", "purpose", name="uq_consent_scan"),
    )
    op.create_table(
        "level_change",
        sa.Column("seq", _BIG_SERIAL, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(_ID), nullable=False),
        _log_fk(),
        sa.Column("from_level", sa.SmallInteger(), nullable=False),
        sa.Column("to_level", sa.SmallInteger(), nullable=False),
        sa.Column("changed_by", sa.String(_ID), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("stafettlogg_id", "id", name="uq_level_change_id"),
    )
    op.create_index("ix_level_change_log_seq", "level_change", ["stafettlogg_id", "seq"])
    op.create_table(
        "handover",
        sa.Column("seq", _BIG_SERIAL, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(_ID), nullable=False),
        _log_fk(),
        sa.Column("from_subject", sa.String(_ID), nullable=False),
        sa.Column("to_subject", sa.String(_ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("stafettlogg_id", "id", name="uq_handover_id"),
        sa.CheckConstraint(
            "status IN ('proposed', 'accepted', 'superseded')", name="ck_handover_status"
        ),
    )
    op.create_index("ix_handover_log_status", "handover", ["stafettlogg_id", "status"])
    op.create_table(
        "access_record",
        sa.Column("id", _BIG_SERIAL, primary_key=True, autoincrement=True),
        sa.Column("stafettlogg_id", sa.String(_ID), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(_ID), nullable=False),
        sa.Column("caller_role", sa.String(16), nullable=False),
        sa.Column("service", sa.String(_ID)),
        sa.Column("roles", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entry_id", sa.String(_ID)),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("record_hash", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("stafettlogg_id", "seq", name="uq_access_record_seq"),
        sa.CheckConstraint("decision IN ('allowed', 'denied')", name="ck_access_record_decision"),
    )
    op.create_table(
        "access_head_signature",
        sa.Column("id", _BIG_SERIAL, primary_key=True, autoincrement=True),
        sa.Column("stafettlogg_id", sa.String(_ID), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
    )
    op.create_index(
        "ix_access_head_signature_log_seq", "access_head_signature", ["stafettlogg_id", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_access_head_signature_log_seq", table_name="access_head_signature")
    op.drop_table("access_head_signature")
    op.drop_table("access_record")
    op.drop_index("ix_handover_log_status", table_name="handover")
    op.drop_table("handover")
    op.drop_index("ix_level_change_log_seq", table_name="level_change")
    op.drop_table("level_change")
    op.drop_table("consent_scan")
    op.drop_index("ix_consent_log_seq", table_name="consent")
    op.drop_index("ix_consent_service", table_name="consent")
    op.drop_table("consent")
    with op.batch_alter_table("entry") as batch:
        batch.drop_column("due_on")
        batch.drop_column("refers_to")
    with op.batch_alter_table("participant") as batch:
        batch.drop_column("youth_declared_by")
        batch.drop_column("youth")
    with op.batch_alter_table("stafettlogg") as batch:
        batch.drop_column("closing_note_id")
        batch.drop_column("closed_by")
        batch.drop_column("closed_at")
        batch.drop_column("level_changed_at")
