"""The logg database: tables and the queries the service layer runs against them.

Nothing here is plaintext. A log's description and every entry are stored as the sealed envelope
the client sent (msgpack-encoded); key grants are epoch keys wrapped for one participant each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, Literal, TypeVar, overload

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    exists,
    false,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AccessContext",
    "Base",
    "EntryRow",
    "ErasureRow",
    "KeyGrantRow",
    "ParticipantRow",
    "Principal",
    "StafettloggRow",
    "UsedAccessTokenRow",
    "access_context",
    "access_heads",
    "delete_grants_of",
    "departed_service_clause",
    "entries_page",
    "entry_by_id",
    "grant_holders",
    "grants_for_principal",
    "grants_of_epoch",
    "grants_of_recipient",
    "handover_by_id",
    "latest_signed_head",
    "level_change_by_id",
    "level_changes_page",
    "lock_stafettlogg",
    "log_with_caller_roles",
    "logs_page_for_principal",
    "mark_rotation_required",
    "participant",
    "participants_of",
    "participants_page",
    "pending_handover",
    "remaining_participants",
    "rotation_due",
    "rotation_due_clause",
    "service_departed",
    "set_participant_role",
    "signed_heads",
    "stafettlogg_by_id",
    "start_epoch",
    "taking_part_clause",
    "valid_consent_clause",
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

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite: `process_bind_param` and then the text SQLite's DATETIME stores
        ("YYYY-MM-DD HH:MM:SS.ffffff"), in one step: SQLAlchemy formats that text from a dict
        of seven fields, which cost ~2 % of a write (the access query binds `now` six times).
        tests/logg/test_models.py checks the text is the same."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def stored_text(value: datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return stored_text


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
    coordinator: Mapped[str] = mapped_column(String(_ID))  # the subject holding the baton
    sealed_description: Mapped[bytes] = mapped_column(LargeBinary)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary)  # SHA-256 of the create request
    level_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(_ID), nullable=True)
    closing_note_id: Mapped[str | None] = mapped_column(String(_ID), nullable=True)
    # Set when a participant left (removed, or consent withdrawn) and their key grants were
    # deleted; cleared when the next epoch is granted (services.logg.epochs).
    rotation_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ParticipantRow(Base):
    __tablename__ = "participant"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "kind", "principal_id", name="uq_participant"),
        Index("ix_participant_principal", "kind", "principal_id", "stafettlogg_id"),
        # A log is about one child: at most one young person takes part in it.
        Index(
            "uq_participant_youth",
            "stafettlogg_id",
            unique=True,
            sqlite_where=text("youth"),
            postgresql_where=text("youth"),
        ),
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
    youth: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    youth_declared_by: Mapped[str | None] = mapped_column(String(_ID), nullable=True)


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
        # The filters of GET .../entries (entries_page): each an index range in seq order.
        Index("ix_entry_log_type_seq", "stafettlogg_id", "type", "seq"),
        Index("ix_entry_log_refers_to_seq", "stafettlogg_id", "refers_to", "seq"),
        # GET /tiltak/forfall (services.logg.due_measures): a log's measures by due date.
        Index("ix_entry_log_type_due", "stafettlogg_id", "type", "due_on"),
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
    refers_to: Mapped[str | None] = mapped_column(String(_ID), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class ConsentRow(Base):
    """A consent record: given or refused for one service unit, perhaps withdrawn later. The row
    is changed once at most, when it is withdrawn; it is never deleted by logg."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "id", name="uq_consent_id"),
        Index("ix_consent_service", "stafettlogg_id", "service_id", "seq"),
        Index("ix_consent_log_seq", "stafettlogg_id", "seq"),
        CheckConstraint("status IN ('given', 'refused', 'withdrawn')", name="ck_consent_status"),
        CheckConstraint("method IN ('portal', 'paper')", name="ck_consent_method"),
    )

    seq: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(_ID))
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    service_id: Mapped[str] = mapped_column(String(_ID))
    status: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(64))  # comma-separated codes, sorted
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(16))
    given_by: Mapped[str] = mapped_column(String(_ID))
    acr: Mapped[str | None] = mapped_column(String(128), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(_ID))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary)
    has_scan: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(_ID), nullable=True)
    withdrawal_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The service may read earlier key epochs (history) under this consent (NewConsent.history).
    history: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ConsentScanRow(Base):
    """The sealed scan of a paper consent (`purpose` consent) or paper withdrawal."""

    __tablename__ = "consent_scan"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "consent_id", "purpose", name="uq_consent_scan"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    consent_id: Mapped[str] = mapped_column(String(_ID))
    purpose: Mapped[str] = mapped_column(String(16))  # consent | withdrawal
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class LevelChangeRow(Base):
    """One change of BTI level: the numbers, who and when in clear; the reason is the sealed
    entry whose id is this row's id."""

    __tablename__ = "level_change"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "id", name="uq_level_change_id"),
        Index("ix_level_change_log_seq", "stafettlogg_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(_ID))
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    from_level: Mapped[int] = mapped_column(SmallInteger)
    to_level: Mapped[int] = mapped_column(SmallInteger)
    changed_by: Mapped[str] = mapped_column(String(_ID))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HandoverRow(Base):
    __tablename__ = "handover"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "id", name="uq_handover_id"),
        Index("ix_handover_log_status", "stafettlogg_id", "status"),
        CheckConstraint(
            "status IN ('proposed', 'accepted', 'superseded')", name="ck_handover_status"
        ),
    )

    seq: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(_ID))
    stafettlogg_id: Mapped[str] = mapped_column(
        String(_ID), ForeignKey("stafettlogg.id", ondelete="CASCADE")
    )
    from_subject: Mapped[str] = mapped_column(String(_ID))
    to_subject: Mapped[str] = mapped_column(String(_ID))
    status: Mapped[str] = mapped_column(String(16))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccessRecordRow(Base):
    """One record of the access log (innsynslogg). Append-only: no code path updates or deletes
    it, and each record's hash chains over the one before it in the same log."""

    __tablename__ = "access_record"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "seq", name="uq_access_record_seq"),
        CheckConstraint("decision IN ('allowed', 'denied')", name="ck_access_record_decision"),
    )

    id: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    stafettlogg_id: Mapped[str] = mapped_column(String(_ID))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(String(_ID))
    caller_role: Mapped[str] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(_ID), nullable=True)
    roles: Mapped[str] = mapped_column(String(64))  # comma-separated, sorted
    action: Mapped[str] = mapped_column(String(32))
    entry_id: Mapped[str | None] = mapped_column(String(_ID), nullable=True)
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    record_hash: Mapped[bytes] = mapped_column(LargeBinary)


class AccessHeadSignatureRow(Base):
    """logg's Ed25519 signature over (log id, seq, head hash, time) of an access record chain."""

    __tablename__ = "access_head_signature"
    __table_args__ = (Index("ix_access_head_signature_log_seq", "stafettlogg_id", "seq"),)

    id: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    stafettlogg_id: Mapped[str] = mapped_column(String(_ID))
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(128))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class UsedAccessTokenRow(Base):
    """Service token ids (SHA-256) already presented to logg, kept until the token expires
    (shared.replay.SqlReplayCache)."""

    __tablename__ = "used_access_tokens"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class ErasureRow(Base):
    """The record that a log, or one entry of it, was erased (services.logg.erasure): kept after
    the erasure, with the access log, because archive law asks what was destroyed, when, by
    whom and why. It holds no key and no sealed content."""

    __tablename__ = "erasure"
    __table_args__ = (
        UniqueConstraint("stafettlogg_id", "entry_id", name="uq_erasure_target"),
        Index("ix_erasure_log", "stafettlogg_id"),
        CheckConstraint("scope IN ('stafettlogg', 'entry')", name="ck_erasure_scope"),
    )

    id: Mapped[int] = mapped_column(_BigSerial, primary_key=True, autoincrement=True)
    stafettlogg_id: Mapped[str] = mapped_column(String(_ID))  # no foreign key: outlives the log
    scope: Mapped[str] = mapped_column(String(16))
    # The erased entry's id; for a whole log the empty string (a NULL would not be unique).
    entry_id: Mapped[str] = mapped_column(String(_ID), default="")
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_by: Mapped[str] = mapped_column(String(_ID))
    reason: Mapped[str] = mapped_column(String(500))
    log_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    log_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted: Mapped[bytes] = mapped_column(LargeBinary)  # JSON of wire.ErasureCounts


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
) -> tuple[StafettloggRow, frozenset[tuple[str, str]]] | None:
    """The log and the (kind, role) pairs the caller holds in it (as a person, and through their
    service unit), in one query; None if no such log."""
    result = await session.execute(
        select(StafettloggRow, ParticipantRow.kind, ParticipantRow.role)
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
    return rows[0][0], frozenset((kind, role) for _, kind, role in rows if role is not None)


@dataclass(frozen=True, slots=True)
class LogFacts:
    """What the hot paths (write an entry, read a page) read of a log: three columns as plain
    values. Building a detached ORM row for them cost ~2 % of a write (docs/performance.md)."""

    id: str
    status: str
    current_epoch: int


LogT = TypeVar("LogT", "StafettloggRow", LogFacts)


@dataclass(frozen=True, slots=True)
class AccessContext(Generic[LogT]):
    """What an access decision needs about one log and one caller, loaded in one query.

    `consent_*` describe the caller's service unit's consent records in the log (None when the
    caller acts for no service unit): whether one of its newest `CONSENT_WINDOW` records is given
    and current at `now`, and the newest record's status and start (None when there is none).
    `head` is the log's access-record chain head as (seq, record_hash), None before the first
    record (as `access_head` answers)."""

    log: LogT
    pairs: frozenset[tuple[str, str]]
    consent_valid: bool | None
    consent_status: str | None
    consent_valid_from: datetime | None
    head: tuple[int, bytes] | None
    rotation_due: bool = False  # see `rotation_due_clause`


def departed_service_clause(
    stafettlogg_id: ColumnElement[str] | str,
    service_id: Mapped[str] | ColumnElement[str] | str,
    now: datetime | ColumnElement[datetime],
) -> ColumnElement[bool]:
    """True where a service unit has left the log through its consent: it holds no consent that
    is given and current, and one of its records was withdrawn, refused or has expired. (A
    service whose consent has not come yet, or starts later, has not left.)"""
    valid = exists().where(
        ConsentRow.stafettlogg_id == stafettlogg_id,
        ConsentRow.service_id == service_id,
        ConsentRow.status == "given",
        ConsentRow.valid_from <= now,
        ConsentRow.valid_until > now,
    )
    lapsed = exists().where(
        ConsentRow.stafettlogg_id == stafettlogg_id,
        ConsentRow.service_id == service_id,
        # Two comparisons, not IN: an IN list is expanded on every execution (this clause is
        # in the access query every request runs).
        or_(
            ConsentRow.status == "withdrawn",
            ConsentRow.status == "refused",
            ConsentRow.valid_until <= now,
        ),
    )
    return and_(lapsed, ~valid)


def rotation_due_clause(
    stafettlogg_id: ColumnElement[str] | str, now: datetime | ColumnElement[datetime]
) -> ColumnElement[bool]:
    """True where the log (correlated `StafettloggRow`) must start a new key epoch before new
    entries: a participant was removed or withdrawn from (the stored flag), or a service that
    has left through its consent (expired, say) still holds a grant for the current epoch."""
    holds_current = exists().where(
        KeyGrantRow.stafettlogg_id == stafettlogg_id,
        KeyGrantRow.epoch == StafettloggRow.current_epoch,
        KeyGrantRow.recipient_kind == "service",
        departed_service_clause(stafettlogg_id, KeyGrantRow.recipient_id, now),
    )
    return or_(StafettloggRow.rotation_required, holds_current)


async def rotation_due(session: AsyncSession, stafettlogg_id: str, now: datetime) -> bool:
    """`rotation_due_clause` for one log, as of `now`."""
    result = await session.execute(
        select(rotation_due_clause(stafettlogg_id, now)).where(StafettloggRow.id == stafettlogg_id)
    )
    return bool(result.scalar())


async def service_departed(
    session: AsyncSession, stafettlogg_id: str, service_id: str, now: datetime
) -> bool:
    """`departed_service_clause` for one service unit in one log, as of `now`."""
    result = await session.execute(select(departed_service_clause(stafettlogg_id, service_id, now)))
    return bool(result.scalar())


async def remaining_participants(
    session: AsyncSession, stafettlogg_id: str, now: datetime
) -> set[tuple[str, str]]:
    """The (kind, id) of the participants a new key epoch is for: every person, and every
    service unit that has not left through its consent (`departed_service_clause`)."""
    result = await session.execute(
        select(ParticipantRow.kind, ParticipantRow.principal_id).where(
            ParticipantRow.stafettlogg_id == stafettlogg_id,
            or_(
                ParticipantRow.kind == "person",
                ~departed_service_clause(stafettlogg_id, ParticipantRow.principal_id, now),
            ),
        )
    )
    return {(kind, principal_id) for kind, principal_id in result.all()}


async def grant_holders(session: AsyncSession, stafettlogg_id: str) -> set[tuple[str, str]]:
    """The (kind, id) of everyone holding a key grant in the log, for any epoch."""
    result = await session.execute(
        select(KeyGrantRow.recipient_kind, KeyGrantRow.recipient_id)
        .where(KeyGrantRow.stafettlogg_id == stafettlogg_id)
        .distinct()
    )
    return {(kind, recipient_id) for kind, recipient_id in result.all()}


async def grants_of_epoch(
    session: AsyncSession, stafettlogg_id: str, epoch: int
) -> Sequence[KeyGrantRow]:
    result = await session.execute(
        select(KeyGrantRow).where(
            KeyGrantRow.stafettlogg_id == stafettlogg_id, KeyGrantRow.epoch == epoch
        )
    )
    return result.scalars().all()


async def lock_stafettlogg(session: AsyncSession, stafettlogg_id: str) -> StafettloggRow | None:
    """The log, re-read and locked for this transaction (FOR UPDATE on PostgreSQL; SQLite
    serialises writers anyway), so that an epoch change and a removal do not interleave."""
    result = await session.execute(
        select(StafettloggRow)
        .where(StafettloggRow.id == stafettlogg_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def delete_grants_of(
    session: AsyncSession, stafettlogg_id: str, recipients: Sequence[tuple[str, str]]
) -> None:
    """Delete every key grant (all epochs) of these (kind, id) recipients in one log."""
    if not recipients:
        return
    await session.execute(
        delete(KeyGrantRow)
        .where(
            KeyGrantRow.stafettlogg_id == stafettlogg_id,
            tuple_(KeyGrantRow.recipient_kind, KeyGrantRow.recipient_id).in_(list(recipients)),
        )
        .execution_options(synchronize_session=False)
    )


async def start_epoch(
    session: AsyncSession, stafettlogg_id: str, *, previous: int, epoch: int
) -> bool:
    """Move the log from epoch `previous` to `epoch` and clear the rotation flag; False if the
    log is no longer at `previous` (someone else rotated first)."""
    result = await session.execute(
        update(StafettloggRow)
        .where(StafettloggRow.id == stafettlogg_id, StafettloggRow.current_epoch == previous)
        .values(current_epoch=epoch, rotation_required=False)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_rotation_required(session: AsyncSession, stafettlogg_id: str) -> None:
    await session.execute(
        update(StafettloggRow)
        .where(StafettloggRow.id == stafettlogg_id)
        .values(rotation_required=True)
        .execution_options(synchronize_session=False)
    )


CONSENT_WINDOW = 20  # how many of a service unit's newest consent records decide its state


def _access_context_statement(*, with_service: bool, attached: bool) -> Select[Any]:
    """The statement behind `access_context`, built once: constructing a select with five
    subqueries costs more CPU on every request than SQLite spends running it; bound parameters
    (log_id, person, service, now) make it reusable (SQLAlchemy caches its compiled form).
    `attached`: the log as an ORM entity; otherwise only the columns of `LogFacts`."""
    log_id = bindparam("log_id", type_=String())
    now = bindparam("now", type_=UTCDateTime())
    newest_head = (
        select(AccessRecordRow.seq)
        .where(AccessRecordRow.stafettlogg_id == log_id)
        .order_by(AccessRecordRow.seq.desc())
        .limit(1)
    )
    log_columns: list[Any] = (
        [StafettloggRow]
        if attached
        else [StafettloggRow.id, StafettloggRow.status, StafettloggRow.current_epoch]
    )
    columns: list[Any] = [
        *log_columns,
        ParticipantRow.kind,
        ParticipantRow.role,
        newest_head.scalar_subquery(),
        newest_head.with_only_columns(AccessRecordRow.record_hash).scalar_subquery(),
    ]
    match = and_(
        ParticipantRow.kind == "person", ParticipantRow.principal_id == bindparam("person")
    )
    if with_service:
        service = bindparam("service", type_=String())
        match = or_(
            match, and_(ParticipantRow.kind == "service", ParticipantRow.principal_id == service)
        )
        of_service = (
            select(ConsentRow.status, ConsentRow.valid_from, ConsentRow.valid_until)
            .where(ConsentRow.stafettlogg_id == log_id, ConsentRow.service_id == service)
            .order_by(ConsentRow.seq.desc())
        )
        window = of_service.limit(CONSENT_WINDOW).subquery()
        newest = of_service.limit(1)
        columns += [
            select(window.c.status)
            .where(
                window.c.status == "given", window.c.valid_from <= now, window.c.valid_until > now
            )
            .exists(),
            newest.with_only_columns(ConsentRow.status).scalar_subquery(),
            newest.with_only_columns(ConsentRow.valid_from).scalar_subquery(),
        ]
    columns.append(rotation_due_clause(log_id, now))
    return (
        select(*columns)
        .outerjoin(ParticipantRow, and_(ParticipantRow.stafettlogg_id == StafettloggRow.id, match))
        .where(StafettloggRow.id == log_id)
        # PostgreSQL: requests on one log take turns from here to their commit (every request
        # appends to the log's access-record chain), instead of all reading the same head,
        # colliding on (log, seq) and retrying. A request that waited here read the head
        # before the one ahead of it committed: its first append finds that seq taken at once
        # and reads the head again (services.logg.audit). SQLite serialises requests already
        # and compiles no FOR clause.
        .with_for_update(of=StafettloggRow, key_share=True)  # FOR NO KEY UPDATE: FKs still pass
    )


# By (with_service, attached).
_ACCESS_CONTEXTS = {
    (with_service, attached): _access_context_statement(
        with_service=with_service, attached=attached
    )
    for with_service in (False, True)
    for attached in (False, True)
}
_LOG_FACTS = len(LogFacts.__slots__)


@overload
async def access_context(
    session: AsyncSession,
    stafettlogg_id: str,
    principal: Principal,
    now: datetime,
    *,
    attached: Literal[True] = True,
) -> AccessContext[StafettloggRow] | None: ...


@overload
async def access_context(
    session: AsyncSession,
    stafettlogg_id: str,
    principal: Principal,
    now: datetime,
    *,
    attached: Literal[False],
) -> AccessContext[LogFacts] | None: ...


async def access_context(
    session: AsyncSession,
    stafettlogg_id: str,
    principal: Principal,
    now: datetime,
    *,
    attached: bool = True,
) -> AccessContext[StafettloggRow] | AccessContext[LogFacts] | None:
    """The log, the caller's (kind, role) pairs in it, their service unit's consent facts and
    the access-record chain head, in one statement (one round trip, the hot path of every
    request); None if no such log.

    The same answers as `log_with_caller_roles`, `consents_for_service(limit=CONSENT_WINDOW)`
    and `access_head` run one after the other: the consent facts and the head are scalar
    subqueries, each one lookup in the (stafettlogg_id, service_id, seq) and
    (stafettlogg_id, seq) indexes.

    `attached=False` runs it as Core on the session's connection and gives the log as
    `LogFacts` (no ORM identity map, no loading machinery: the hot read and write paths only
    read three columns); the default gives the session's own row, for callers that change it."""
    has_service = principal.service is not None
    statement = _ACCESS_CONTEXTS[has_service, attached]
    params: dict[str, object] = {"log_id": stafettlogg_id, "person": principal.person}
    if has_service:
        params["service"] = principal.service
    params["now"] = now
    if attached:
        rows = (await session.execute(statement, params)).all()
    else:
        rows = (await (await session.connection()).execute(statement, params)).all()
    if not rows:
        return None
    first = rows[0]
    base = 1 if attached else _LOG_FACTS  # the log's entity or columns, then the others
    head_seq, head_hash = first[base + 2], first[base + 3]
    log = first[0] if attached else LogFacts(*first[:_LOG_FACTS])
    return AccessContext(
        log=log,
        pairs=frozenset((row[base], row[base + 1]) for row in rows if row[base + 1] is not None),
        consent_valid=bool(first[base + 4]) if has_service else None,
        consent_status=first[base + 5] if has_service else None,
        consent_valid_from=first[base + 6] if has_service else None,
        head=None if head_seq is None else (int(head_seq), bytes(head_hash)),
        rotation_due=bool(first[-1]),
    )


def valid_consent_clause(
    stafettlogg_id: Mapped[str] | ColumnElement[str] | str,
    service_id: Mapped[str] | ColumnElement[str] | str,
    now: datetime | ColumnElement[datetime],
) -> ColumnElement[bool]:
    """True where the service unit holds a consent in the log that is given and current."""
    return exists().where(
        ConsentRow.stafettlogg_id == stafettlogg_id,
        ConsentRow.service_id == service_id,
        ConsentRow.status == "given",
        ConsentRow.valid_from <= now,
        ConsentRow.valid_until > now,
    )


def taking_part_clause(
    principal: Principal, *, consent_required: bool, now: datetime
) -> ColumnElement[bool]:
    """True for a participant row by which the principal takes part in its log. With
    `consent_required` (a staff caller) only the row of a log the caller coordinates, or one
    where their service unit holds consent valid at `now`: the rule of
    services.logg.access.decide."""
    match = principal.participant_match()
    if not consent_required:
        return match
    coordinating = and_(
        ParticipantRow.kind == "person",
        ParticipantRow.principal_id == principal.person,
        ParticipantRow.role == "coordinator",
    )
    if principal.service is None:
        return coordinating
    consented = valid_consent_clause(ParticipantRow.stafettlogg_id, principal.service, now)
    return or_(coordinating, and_(match, consented))


async def logs_page_for_principal(
    session: AsyncSession,
    principal: Principal,
    *,
    before_seq: int | None,
    limit: int,
    consent_required: bool = False,
    now: datetime | None = None,
) -> Sequence[StafettloggRow]:
    """Up to `limit` logs the principal takes part in, newest first, older than `before_seq`.

    With `consent_required` (a staff caller), a log counts only where the caller coordinates it
    or their service unit holds valid consent: the same rule as services.logg.access.decide."""
    match = taking_part_clause(
        principal, consent_required=consent_required, now=now or datetime.now(UTC)
    )
    member = select(ParticipantRow.stafettlogg_id).where(match)
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


async def youth_of(session: AsyncSession, stafettlogg_id: str) -> ParticipantRow | None:
    """The young person taking part in the log, if one does (at most one: uq_participant_youth)."""
    result = await session.execute(
        select(ParticipantRow).where(
            ParticipantRow.stafettlogg_id == stafettlogg_id, ParticipantRow.youth.is_(True)
        )
    )
    return result.scalar_one_or_none()


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
    session: AsyncSession,
    stafettlogg_id: str,
    *,
    before_seq: int | None,
    limit: int,
    types: Sequence[str] = (),
    refers_to: Sequence[str] = (),
    ids: Sequence[str] = (),
) -> Sequence[EntryRow]:
    """Up to `limit` entries of a log, newest first, older than `before_seq`, narrowed by every
    filter given: of one of `types`, referring to one of `refers_to`, one of `ids`.

    Never a scan of the log (the callers bound each list): without filters one range of
    (stafettlogg_id, seq); `ids` one lookup per id in (stafettlogg_id, id); `refers_to` one range
    per id in (stafettlogg_id, refers_to, seq); `types` alone the newest `limit` of each type, one
    range each in (stafettlogg_id, type, seq). The filtered rows are then read by primary key."""
    conditions: list[ColumnElement[bool]] = [EntryRow.stafettlogg_id == stafettlogg_id]
    if before_seq is not None:
        conditions.append(EntryRow.seq < before_seq)
    if ids or refers_to:
        if ids:
            conditions.append(EntryRow.id.in_(ids))
        if refers_to:
            conditions.append(EntryRow.refers_to.in_(refers_to))
        # Unordered and without the type, so the planner picks the id or refers_to index rather
        # than walking (log, seq) or (log, type, seq); the type narrows the rows it found.
        conditions = [EntryRow.seq.in_(select(EntryRow.seq).where(*conditions))]
        if types:
            conditions.append(EntryRow.type.in_(types))
    elif len(types) == 1:
        conditions.append(EntryRow.type == types[0])
    elif types:
        newest_of_each = [
            select(EntryRow.seq)
            .where(*conditions, EntryRow.type == entry_type)
            .order_by(EntryRow.seq.desc())
            .limit(limit)
            .subquery()
            for entry_type in types
        ]
        conditions = [EntryRow.seq.in_(union_all(*(select(s.c.seq) for s in newest_of_each)))]
    query = select(EntryRow).where(*conditions).order_by(EntryRow.seq.desc()).limit(limit)
    result = await session.execute(query)
    return result.scalars().all()


async def participants_page(
    session: AsyncSession, stafettlogg_id: str, *, after_id: int | None, limit: int
) -> Sequence[ParticipantRow]:
    """Participants in the order they were added, after `after_id`: one index range."""
    query = select(ParticipantRow).where(ParticipantRow.stafettlogg_id == stafettlogg_id)
    if after_id is not None:
        query = query.where(ParticipantRow.id > after_id)
    result = await session.execute(query.order_by(ParticipantRow.id).limit(limit))
    return result.scalars().all()


async def set_participant_role(
    session: AsyncSession, stafettlogg_id: str, kind: str, principal_id: str, role: str
) -> None:
    await session.execute(
        update(ParticipantRow)
        .where(
            ParticipantRow.stafettlogg_id == stafettlogg_id,
            ParticipantRow.kind == kind,
            ParticipantRow.principal_id == principal_id,
        )
        .values(role=role)
    )


async def consents_for_service(
    session: AsyncSession, stafettlogg_id: str, service_id: str, *, limit: int = 20
) -> Sequence[ConsentRow]:
    """The newest consent records of one service unit in one log."""
    result = await session.execute(
        select(ConsentRow)
        .where(ConsentRow.stafettlogg_id == stafettlogg_id, ConsentRow.service_id == service_id)
        .order_by(ConsentRow.seq.desc())
        .limit(limit)
    )
    return result.scalars().all()


async def consent_by_id(
    session: AsyncSession, stafettlogg_id: str, consent_id: str
) -> ConsentRow | None:
    result = await session.execute(
        select(ConsentRow).where(
            ConsentRow.stafettlogg_id == stafettlogg_id, ConsentRow.id == consent_id
        )
    )
    return result.scalar_one_or_none()


async def consent_scan(
    session: AsyncSession, stafettlogg_id: str, consent_id: str, purpose: str
) -> ConsentScanRow | None:
    result = await session.execute(
        select(ConsentScanRow).where(
            ConsentScanRow.stafettlogg_id == stafettlogg_id,
            ConsentScanRow.consent_id == consent_id,
            ConsentScanRow.purpose == purpose,
        )
    )
    return result.scalar_one_or_none()


async def consents_page(
    session: AsyncSession, stafettlogg_id: str, *, before_seq: int | None, limit: int
) -> Sequence[ConsentRow]:
    """Consent records of a log, newest first: one index range."""
    query = select(ConsentRow).where(ConsentRow.stafettlogg_id == stafettlogg_id)
    if before_seq is not None:
        query = query.where(ConsentRow.seq < before_seq)
    result = await session.execute(query.order_by(ConsentRow.seq.desc()).limit(limit))
    return result.scalars().all()


async def level_change_by_id(
    session: AsyncSession, stafettlogg_id: str, change_id: str
) -> LevelChangeRow | None:
    result = await session.execute(
        select(LevelChangeRow).where(
            LevelChangeRow.stafettlogg_id == stafettlogg_id, LevelChangeRow.id == change_id
        )
    )
    return result.scalar_one_or_none()


async def level_changes_page(
    session: AsyncSession, stafettlogg_id: str, *, before_seq: int | None, limit: int
) -> Sequence[LevelChangeRow]:
    query = select(LevelChangeRow).where(LevelChangeRow.stafettlogg_id == stafettlogg_id)
    if before_seq is not None:
        query = query.where(LevelChangeRow.seq < before_seq)
    result = await session.execute(query.order_by(LevelChangeRow.seq.desc()).limit(limit))
    return result.scalars().all()


async def handover_by_id(
    session: AsyncSession, stafettlogg_id: str, handover_id: str
) -> HandoverRow | None:
    result = await session.execute(
        select(HandoverRow).where(
            HandoverRow.stafettlogg_id == stafettlogg_id, HandoverRow.id == handover_id
        )
    )
    return result.scalar_one_or_none()


async def pending_handover(session: AsyncSession, stafettlogg_id: str) -> HandoverRow | None:
    """The proposed handover of a log not yet accepted (at most one: a new one supersedes)."""
    result = await session.execute(
        select(HandoverRow)
        .where(HandoverRow.stafettlogg_id == stafettlogg_id, HandoverRow.status == "proposed")
        .order_by(HandoverRow.seq.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def access_head(session: AsyncSession, stafettlogg_id: str) -> tuple[int, bytes] | None:
    """The newest access record's (seq, record_hash) of a log; one index lookup."""
    result = await session.execute(
        select(AccessRecordRow.seq, AccessRecordRow.record_hash)
        .where(AccessRecordRow.stafettlogg_id == stafettlogg_id)
        .order_by(AccessRecordRow.seq.desc())
        .limit(1)
    )
    row = result.first()
    return None if row is None else (int(row[0]), bytes(row[1]))


async def access_heads(
    session: AsyncSession, stafettlogg_ids: Sequence[str]
) -> dict[str, tuple[int, bytes]]:
    """`access_head` of several logs in one statement (one index lookup per log); logs with no
    record yet are left out."""
    newest = (
        select(AccessRecordRow.seq)
        .where(AccessRecordRow.stafettlogg_id == StafettloggRow.id)
        .order_by(AccessRecordRow.seq.desc())
        .limit(1)
    )
    result = await session.execute(
        select(
            StafettloggRow.id,
            newest.scalar_subquery(),
            newest.with_only_columns(AccessRecordRow.record_hash).scalar_subquery(),
        ).where(StafettloggRow.id.in_(stafettlogg_ids))
    )
    return {
        stafettlogg_id: (int(seq), bytes(head_hash))
        for stafettlogg_id, seq, head_hash in result.all()
        if seq is not None
    }


async def access_records_page(
    session: AsyncSession, stafettlogg_id: str, *, before_seq: int | None, limit: int
) -> Sequence[AccessRecordRow]:
    """Access records of a log, newest first: one range of the (log, seq) unique index."""
    query = select(AccessRecordRow).where(AccessRecordRow.stafettlogg_id == stafettlogg_id)
    if before_seq is not None:
        query = query.where(AccessRecordRow.seq < before_seq)
    result = await session.execute(query.order_by(AccessRecordRow.seq.desc()).limit(limit))
    return result.scalars().all()


async def latest_signed_head(
    session: AsyncSession, stafettlogg_id: str
) -> AccessHeadSignatureRow | None:
    result = await session.execute(
        select(AccessHeadSignatureRow)
        .where(AccessHeadSignatureRow.stafettlogg_id == stafettlogg_id)
        .order_by(AccessHeadSignatureRow.seq.desc(), AccessHeadSignatureRow.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def signed_heads(
    session: AsyncSession, stafettlogg_id: str
) -> Sequence[AccessHeadSignatureRow]:
    result = await session.execute(
        select(AccessHeadSignatureRow)
        .where(AccessHeadSignatureRow.stafettlogg_id == stafettlogg_id)
        .order_by(AccessHeadSignatureRow.seq, AccessHeadSignatureRow.id)
    )
    return result.scalars().all()
