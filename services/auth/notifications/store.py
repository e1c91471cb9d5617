"""The notifier's tables and every statement it runs on them: each person's notification
preferences (address, on/off, language), the feed cursor, the reminders already sent, and the
outbox of messages decided but not yet handed to the SMTP server.

Why an outbox: the cursor moves and the messages it implies are written in one transaction, and
a message is taken out (deleted) before it is sent, so a restart or a second instance never sends
one twice. The price: a crash between taking and sending loses that one message.

An address is personal data: it is stored here and nowhere else, and never logged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.auth.models import Base, PersonRow, ServiceUnitRow, StaffMembershipRow

__all__ = [
    "ENTRIES_CURSOR",
    "LANGUAGES",
    "NotificationCursorRow",
    "NotificationPreferenceRow",
    "NotificationStore",
    "OutboxRow",
    "Preferences",
    "ReminderSentRow",
    "addresses_by_subject",
    "set_address",
]

ENTRIES_CURSOR = "entries"
LANGUAGES = ("nb", "nn", "en")


class NotificationPreferenceRow(Base):
    """One person's choice: where to be told (or no address), whether at all, in which language."""

    __tablename__ = "notification_preferences"

    subject: Mapped[str] = mapped_column(
        String(32), ForeignKey("persons.subject", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    language: Mapped[str] = mapped_column(String(8), default="nb", server_default="nb")
    updated_at: Mapped[int] = mapped_column(BigInteger)


class NotificationCursorRow(Base):
    """How far the notifier has read logg's feed of new entries (logg's entry sequence)."""

    __tablename__ = "notification_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ReminderSentRow(Base):
    """A measure whose evaluation reminder has been decided: it is never reminded of again."""

    __tablename__ = "notification_reminders"

    stafettlogg_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_on: Mapped[str] = mapped_column(String(10))  # ISO date, for the operator's eyes
    sent_at: Mapped[int] = mapped_column(BigInteger)


class OutboxRow(Base):
    """A message to send to one person: only its kind, never an address or any content. One
    row per person and kind: new entries while one is pending fold into it."""

    __tablename__ = "notification_outbox"
    __table_args__ = (UniqueConstraint("subject", "kind", name="uq_notification_outbox"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(
        String(32), ForeignKey("persons.subject", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))  # new-entries | reminder
    created_at: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True, slots=True)
class Preferences:
    email: str | None
    enabled: bool
    language: str


DEFAULT_PREFERENCES = Preferences(email=None, enabled=True, language="nb")


class NotificationStore:
    """Preferences, cursor, reminders and outbox, each method one short transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    # -- preferences ---------------------------------------------------------------------

    async def preferences(self, subject: str) -> Preferences:
        async with self._sessionmaker() as db:
            row = await db.get(NotificationPreferenceRow, subject)
        if row is None:
            return DEFAULT_PREFERENCES
        return Preferences(row.email, bool(row.enabled), row.language)

    async def set_preferences(self, subject: str, preferences: Preferences) -> None:
        """Store a person's own choice (the address already normalised and checked)."""
        async with self._sessionmaker() as db:
            row = await db.get(NotificationPreferenceRow, subject)
            if row is None:
                row = NotificationPreferenceRow(subject=subject)
                db.add(row)
            row.email = preferences.email
            row.enabled = preferences.enabled
            row.language = preferences.language
            row.updated_at = int(time.time())
            await db.commit()

    async def addresses_of(self, subjects: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(address, language) of those among `subjects` who are active, have an address and
        have notifications on."""
        wanted = sorted(set(subjects))
        found: dict[str, tuple[str, str]] = {}
        async with self._sessionmaker() as db:
            for start in range(0, len(wanted), 500):
                rows = await db.execute(
                    select(
                        NotificationPreferenceRow.subject,
                        NotificationPreferenceRow.email,
                        NotificationPreferenceRow.language,
                    )
                    .join(PersonRow, PersonRow.subject == NotificationPreferenceRow.subject)
                    .where(
                        NotificationPreferenceRow.subject.in_(wanted[start : start + 500]),
                        NotificationPreferenceRow.enabled.is_(True),
                        NotificationPreferenceRow.email.is_not(None),
                        PersonRow.deactivated_at.is_(None),
                    )
                )
                found.update(
                    {subject: (email, language) for subject, email, language in rows if email}
                )
        return found

    async def staff_of_services(self, service_ids: Iterable[str]) -> dict[str, set[str]]:
        """The active staff of each active service unit among `service_ids`."""
        wanted = sorted(set(service_ids))
        staff: dict[str, set[str]] = {}
        if not wanted:
            return staff
        async with self._sessionmaker() as db:
            rows = await db.execute(
                select(StaffMembershipRow.service_id, StaffMembershipRow.person_subject)
                .join(PersonRow, PersonRow.subject == StaffMembershipRow.person_subject)
                .join(ServiceUnitRow, ServiceUnitRow.id == StaffMembershipRow.service_id)
                .where(
                    StaffMembershipRow.service_id.in_(wanted),
                    PersonRow.deactivated_at.is_(None),
                    ServiceUnitRow.deactivated_at.is_(None),
                )
            )
            for service_id, subject in rows:
                staff.setdefault(service_id, set()).add(subject)
        return staff

    # -- cursor, reminders and outbox ------------------------------------------------------

    async def cursor(self, name: str = ENTRIES_CURSOR) -> int | None:
        async with self._sessionmaker() as db:
            row = await db.get(NotificationCursorRow, name)
        return None if row is None else int(row.position)

    async def advance(
        self,
        previous: int | None,
        position: int,
        subjects: Iterable[str],
        kind: str,
        *,
        name: str = ENTRIES_CURSOR,
    ) -> bool:
        """Move the cursor from `previous` to `position` and queue a `kind` message for each
        subject, in one transaction. False (nothing changed) when the cursor is no longer at
        `previous`: another instance took this batch."""
        now = int(time.time())
        async with self._sessionmaker() as db:
            try:
                if previous is None:
                    db.add(NotificationCursorRow(name=name, position=position, updated_at=now))
                    await db.flush()
                else:
                    result = await db.execute(
                        update(NotificationCursorRow)
                        .where(
                            NotificationCursorRow.name == name,
                            NotificationCursorRow.position == previous,
                        )
                        .values(position=position, updated_at=now)
                    )
                    if int(getattr(result, "rowcount", 0) or 0) != 1:
                        await db.rollback()
                        return False
                await _queue(db, subjects, kind, now)
                await db.commit()
            except IntegrityError:  # another instance created the cursor first
                await db.rollback()
                return False
        return True

    async def reminded(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (log id, measure entry id) have had their reminder already."""
        wanted = set(keys)
        if not wanted:
            return set()
        logs = sorted({log_id for log_id, _ in wanted})
        async with self._sessionmaker() as db:
            rows = await db.execute(
                select(ReminderSentRow.stafettlogg_id, ReminderSentRow.entry_id).where(
                    ReminderSentRow.stafettlogg_id.in_(logs)
                )
            )
            return {(log_id, entry_id) for log_id, entry_id in rows} & wanted

    async def remind(
        self, measures: Sequence[tuple[str, str, str]], subjects: Iterable[str]
    ) -> bool:
        """Record the reminders of `measures` (log id, entry id, due date) and queue one reminder
        message per subject, in one transaction; False when another instance recorded one of
        them first (nothing is queued then; the next round tries again without it)."""
        now = int(time.time())
        async with self._sessionmaker() as db:
            for log_id, entry_id, due_on in measures:
                db.add(
                    ReminderSentRow(
                        stafettlogg_id=log_id, entry_id=entry_id, due_on=due_on, sent_at=now
                    )
                )
            try:
                await db.flush()
                await _queue(db, subjects, "reminder", now)
                await db.commit()
            except IntegrityError:
                await db.rollback()
                return False
        return True

    async def take_message(self) -> OutboxRow | None:
        """The oldest queued message, deleted from the outbox (so no one else sends it)."""
        async with self._sessionmaker() as db:
            while True:
                row = await db.scalar(select(OutboxRow).order_by(OutboxRow.id).limit(1))
                if row is None:
                    return None
                result = await db.execute(delete(OutboxRow).where(OutboxRow.id == row.id))
                await db.commit()
                if int(getattr(result, "rowcount", 0) or 0) == 1:
                    return row

    async def put_back(self, row: OutboxRow) -> None:
        """Queue a message again after the SMTP server refused or could not be reached."""
        async with self._sessionmaker() as db:
            await _queue(db, [row.subject], row.kind, row.created_at, attempts=row.attempts + 1)
            await db.commit()


async def set_address(db: AsyncSession, subject: str, email: str | None) -> None:
    """Set only the address (an administrator, for staff), keeping the person's own on/off and
    language; in the caller's transaction (the person row must exist or be flushed)."""
    row = await db.get(NotificationPreferenceRow, subject)
    if row is None:
        row = NotificationPreferenceRow(subject=subject, enabled=True, language="nb")
        db.add(row)
    row.email = email
    row.updated_at = int(time.time())


async def addresses_by_subject(db: AsyncSession, subjects: Sequence[str]) -> dict[str, str]:
    """The stored address of each of `subjects` that has one (whether notifications are on or
    not): what an administrator sees in the staff list."""
    found: dict[str, str] = {}
    for start in range(0, len(subjects), 500):
        rows = await db.execute(
            select(NotificationPreferenceRow.subject, NotificationPreferenceRow.email).where(
                NotificationPreferenceRow.subject.in_(list(subjects[start : start + 500])),
                NotificationPreferenceRow.email.is_not(None),
            )
        )
        found.update({subject: email for subject, email in rows if email})
    return found


async def _queue(
    db: AsyncSession, subjects: Iterable[str], kind: str, now: int, *, attempts: int = 0
) -> None:
    """Add a message per subject unless one of this kind is already queued for them."""
    wanted = sorted(set(subjects))
    if not wanted:
        return
    queued: set[str] = set()
    for start in range(0, len(wanted), 500):
        rows = await db.scalars(
            select(OutboxRow.subject).where(
                OutboxRow.kind == kind, OutboxRow.subject.in_(wanted[start : start + 500])
            )
        )
        queued.update(rows)
    for subject in wanted:
        if subject not in queued:
            db.add(OutboxRow(subject=subject, kind=kind, created_at=now, attempts=attempts))
    await db.flush()
