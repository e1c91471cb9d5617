"""The logg database: tables and the queries the service layer runs against them.

Nothing here is plaintext. A log's description and every entry are stored as the sealed envelope
the client sent (msgpack-encoded); key grants are epoch keys wrapped for one participant each.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    and_,
    or_,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "EntryRow",
    "KeyGrantRow",
    "ParticipantRow",
    "Principal",
    "StafettloggRow",
    "entries_page",
    "entry_by_id",
    "grants_for_principal",
    "grants_of_recipient",
    "log_with_caller_roles",
    "logs_page_for_principal",
    "participant",
    "participants_of",
    "stafettlogg_by_id",
]

_ID = 64
# 64-bit on PostgreSQL; on SQLite an INTEGER PRIMARY KEY (the rowid, 64-bit already).
_BigSerial = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class StafettloggRow(Base):
    __tablename__ = "stafettlogg"
    __table_args__ = (
        UniqueConstraint("id", name="uq_stafettlogg_id"),
        CheckConstraint("status IN ('open', 'closed')", name="ck_stafettlogg_status"),
        CheckConstraint("level BETWEEN 0 AND 3", name="ck_stafettlogg_level"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(_ID))
    status: Mapped[str] = mapped_column(String(16), default="open")
    level: Mapped[int] = mapped_column(SmallInteger, default=0)
    current_epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    coordinator: Mapped[str] = mapped_column(String(_ID))  # the subject who created it
    sealed_description: Mapped[bytes] = mapped_column(LargeBinary)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary)  # SHA-256 of the create request


class ParticipantRow(Base):
    __tablename__ = "participant"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "kind", "principal_id", name="uq_participant"),
        Index("ix_participant_principal", "kind", "principal_id", "stafettlogg_id"),
        CheckConstraint("kind IN ('person', 'service')", name="ck_participant_kind"),
        CheckConstraint("role IN ('coordinator', 'writer', 'reader')", name="ck_participant_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[str] = mapped_column(String(_ID))
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KeyGrantRow(Base):
    __tablename__ = "key_grant"
    __table_args__ = (
        UniqueConstraint(
            "stafettlogg_id", "recipient_kind", "recipient_id", "epoch", name="uq_key_grant"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    epoch: Mapped[int] = mapped_column(Integer)
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(_ID))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class EntryRow(Base):
    __tablename__ = "entry"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "id", name="uq_entry_id"),
        Index("ix_entry_log_seq", "stafettlogg_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(_ID))  # the header's entry_id
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    epoch: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(_ID))
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # from the signed header
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # msgpack of the SealedEnvelope
    author_sign_key: Mapped[bytes] = mapped_column(LargeBinary)  # raw Ed25519 public key


class Principal:
    """Who a caller is to the database: a person subject, and the service unit they act for."""

    __slots__ = ("person", "service")

    def __init__(self, person: str, service: str | None) -> None:
        self.person = person
        self.service = service

    def participant_match(self) -> ColumnElement[bool]:
        person = and_(ParticipantRow.kind == "person", ParticipantRow.principal_id == self.person)
        if self.service is None:
            return person
        service = and_(
            ParticipantRow.kind == "service", ParticipantRow.principal_id == self.service
        )
        return or_(person, service)

    def grant_match(self) -> ColumnElement[bool]:
        person = and_(
            KeyGrantRow.recipient_kind == "person", KeyGrantRow.recipient_id == self.person
        )
        if self.service is None:
            return person
        service = and_(
            KeyGrantRow.recipient_kind == "service", KeyGrantRow.recipient_id == self.service
        )
        return or_(person, service)


async def stafettlogg_by_id(session: AsyncSession, stafettlogg_id: str) -> StafettloggRow | None:
    result = await session.execute(
        select(StafettloggRow).where(StafettloggRow.id == stafettlogg_id)
    )
    return result.scalar_one_or_none()


async def log_with_caller_roles(
    session: AsyncSession, stafettlogg_id: str, principal: Principal
) -> tuple[StafettloggRow, frozenset[str]] | None:
    """The log and the roles the caller holds in it, in one query; None if no such log."""
    result = await session.execute(
        select(StafettloggRow, ParticipantRow.role)
        .outerjoin(
            ParticipantRow,
            and_(
                ParticipantRow.stafettlogg_id == StafettloggRow.id,
                principal.participant_match(),
            ),
        )
        .where(StafettloggRow.id == stafettlogg_id)
    )
    rows = result.all()
    if not rows:
        return None
    return rows[0][0], frozenset(role for _, role in rows if role is not None)


async def logs_page_for_principal(
    session: AsyncSession, principal: Principal, *, before_seq: int | None, limit: int
) -> Sequence[StafettloggRow]:
    """Up to `limit` logs the principal takes part in, newest first, older than `before_seq`."""
    member = select(ParticipantRow.stafettlogg_id).where(principal.participant_match())
    query = select(StafettloggRow).where(StafettloggRow.id.in_(member))
    if before_seq is not None:
        query = query.where(StafettloggRow.seq < before_seq)
    result = await session.execute(query.order_by(StafettloggRow.seq.desc()).limit(limit))
    return result.scalars().all()


async def participants_of(
    session: AsyncSession, stafettlogg_ids: Sequence[str]
) -> Sequence[ParticipantRow]:
    if not stafettlogg_ids:
        return []
    result = await session.execute(
        select(ParticipantRow)
        .where(ParticipantRow.stafettlogg_id.in_(stafettlogg_ids))
        .order_by(ParticipantRow.id)
    )
    return result.scalars().all()


async def grants_for_principal(
    session: AsyncSession,
    stafettlogg_ids: Sequence[str],
    principal: Principal,
) -> Sequence[KeyGrantRow]:
    """The key grants in these logs that the principal can open (its person's and service's)."""
    if not stafettlogg_ids:
        return []
    result = await session.execute(
        select(KeyGrantRow)
        .where(KeyGrantRow.stafettlogg_id.in_(stafettlogg_ids), principal.grant_match())
        .order_by(KeyGrantRow.epoch, KeyGrantRow.id)
    )
    return result.scalars().all()


async def grants_of_recipient(
    session: AsyncSession, stafettlogg_id: str, kind: str, recipient_id: str
) -> Sequence[KeyGrantRow]:
    result = await session.execute(
        select(KeyGrantRow).where(
            KeyGrantRow.stafettlogg_id == stafettlogg_id,
            KeyGrantRow.recipient_kind == kind,
            KeyGrantRow.recipient_id == recipient_id,
        )
    )
    return result.scalars().all()


async def participant(
    session: AsyncSession, stafettlogg_id: str, kind: str, principal_id: str
) -> ParticipantRow | None:
    result = await session.execute(
        select(ParticipantRow).where(
            ParticipantRow.stafettlogg_id == stafettlogg_id,
            ParticipantRow.kind == kind,
            ParticipantRow.principal_id == principal_id,
        )
    )
    return result.scalar_one_or_none()


async def entry_by_id(session: AsyncSession, stafettlogg_id: str, entry_id: str) -> EntryRow | None:
    result = await session.execute(
        select(EntryRow).where(EntryRow.stafettlogg_id == stafettlogg_id, EntryRow.id == entry_id)
    )
    return result.scalar_one_or_none()


async def entries_page(
    session: AsyncSession, stafettlogg_id: str, *, before_seq: int | None, limit: int
) -> Sequence[EntryRow]:
    """Up to `limit` entries of a log, newest first, older than `before_seq`: one index range."""
    query = select(EntryRow).where(EntryRow.stafettlogg_id == stafettlogg_id)
    if before_seq is not None:
        query = query.where(EntryRow.seq < before_seq)
    result = await session.execute(query.order_by(EntryRow.seq.desc()).limit(limit))
    return result.scalars().all()
