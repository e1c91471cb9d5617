"""The notifier: every interval it reads logg's content-free feed, decides who is to be told,
and sends each of them one e-mail that says only that something is waiting.

One round (`run_once`):
1. New entries after the stored cursor. Everyone taking part in an entry's log is told, except
   the entry's author; a service unit stands for its active staff. The cursor moves and one
   «new entries» message per person is queued in one transaction (services.auth.notifications
   .store), so a batch of many entries gives each person one e-mail. The very first round only
   sets the cursor to now: turning notifications on does not mail about the past.
2. Measures whose evaluation date is within `reminder_days` (dates in Norwegian time) and that
   have no evaluation: those not reminded of before are recorded as reminded, and one reminder
   per person queued, in one transaction. An evaluation written before the round means no
   reminder; a restart never reminds twice.
3. The outbox is sent: each message is taken out, the person's address and choice read afresh
   (someone who turned notifications off a second ago gets nothing), and handed to SMTP. When
   the SMTP server refuses, the message goes back for the next round (at most `_MAX_ATTEMPTS`).

Only people with an address and notifications on are queued. Nothing here logs an address, a
subject or anything about a log: only counts and error types.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.auth.notifications.feed_client import FeedError, LoggFeedClient
from services.auth.notifications.settings import NotificationSettings
from services.auth.notifications.smtp import MailError, SmtpMailer
from services.auth.notifications.store import NotificationStore
from services.auth.notifications.texts import mail_text
from shared.wire import FeedRecipient

__all__ = ["Notifier", "RoundReport", "norwegian_today"]

_log = logging.getLogger("stafett.auth.notifier")
_OSLO = ZoneInfo("Europe/Oslo")
_MAX_PAGES = 50  # per round and feed: a backlog is worked off over several rounds
_MAX_ATTEMPTS = 5


def norwegian_today() -> date:
    return datetime.now(_OSLO).date()


@dataclass
class RoundReport:
    """What one round did (counts only)."""

    entries: int = 0
    reminders: int = 0
    queued: int = 0
    sent: int = 0
    dropped: int = 0
    failed: int = 0


class Notifier:
    def __init__(
        self,
        settings: NotificationSettings,
        *,
        portal_url: str,
        store: NotificationStore,
        feed: LoggFeedClient,
        mailer: SmtpMailer,
        today: Callable[[], date] = norwegian_today,
    ) -> None:
        self._settings = settings
        self._portal_url = portal_url
        self._store = store
        self._feed = feed
        self._mailer = mailer
        self._today = today

    async def run_once(self) -> RoundReport:
        """One round: new entries, reminders, then the outbox. Raises FeedError when logg
        cannot be asked (what was queued before stays queued)."""
        report = RoundReport()
        await self._new_entries(report)
        await self._reminders(report)
        await self.send_outbox(report)
        return report

    async def run_forever(self) -> None:
        """Rounds every `interval_seconds` until cancelled, the first one an interval after the
        start (so a start or restart is quiet); a failed round is logged (its error type only)
        and the next one tries again."""
        while True:
            await asyncio.sleep(self._settings.interval_seconds)
            try:
                report = await self.run_once()
                if report.sent or report.failed or report.dropped:
                    _log.info(
                        "notifications: %d sent, %d failed, %d dropped",
                        report.sent,
                        report.failed,
                        report.dropped,
                    )
            except FeedError as error:
                _log.warning("notifications: the feed is not available: %s", error)
            except Exception as error:  # the loop must outlive any one round
                _log.error("notifications: the round failed: %s", type(error).__name__)

    async def _people(self, recipients: Iterable[FeedRecipient]) -> set[str]:
        recipients = list(recipients)
        people = {r.id for r in recipients if r.kind == "person"}
        staff = await self._store.staff_of_services(r.id for r in recipients if r.kind == "service")
        for members in staff.values():
            people |= members
        return people

    async def _new_entries(self, report: RoundReport) -> None:
        cursor = await self._store.cursor()
        if cursor is None:
            start = await self._feed.entries(None)
            await self._store.advance(None, start.cursor, [], "new-entries")
            return
        for _ in range(_MAX_PAGES):
            page = await self._feed.entries(cursor)
            people: set[str] = set()
            staff = await self._store.staff_of_services(
                r.id for item in page.items for r in item.recipients if r.kind == "service"
            )
            for item in page.items:
                told = {r.id for r in item.recipients if r.kind == "person"}
                for r in item.recipients:
                    if r.kind == "service":
                        told |= staff.get(r.id, set())
                people |= told - {item.author}
            addressed = set(await self._store.addresses_of(people))
            moved = page.cursor != cursor or addressed
            if moved and not await self._store.advance(
                cursor, page.cursor, addressed, "new-entries"
            ):
                return  # another instance took this batch
            report.entries += len(page.items)
            report.queued += len(addressed)
            cursor = page.cursor
            if not page.more:
                return

    async def _reminders(self, report: RoundReport) -> None:
        today = self._today()
        due_to = today + timedelta(days=self._settings.reminder_days)
        after = 0
        for _ in range(_MAX_PAGES):
            page = await self._feed.due_measures(today, due_to, after)
            keys = [(m.stafettlogg_id, m.entry_id) for m in page.items]
            done = await self._store.reminded(keys)
            fresh = [m for m in page.items if (m.stafettlogg_id, m.entry_id) not in done]
            if fresh:
                people = await self._people(r for m in fresh for r in m.recipients)
                addressed = set(await self._store.addresses_of(people))
                measures = [(m.stafettlogg_id, m.entry_id, m.due_on.isoformat()) for m in fresh]
                if await self._store.remind(measures, addressed):
                    report.reminders += len(fresh)
                    report.queued += len(addressed)
            after = page.cursor
            if not page.more:
                return

    async def send_outbox(self, report: RoundReport | None = None) -> RoundReport:
        """Send what is queued; stop at the first message the SMTP server does not take."""
        report = report or RoundReport()
        while (message := await self._store.take_message()) is not None:
            found = await self._store.addresses_of([message.subject])
            if message.subject not in found:
                report.dropped += 1  # turned off, address removed, or deactivated meanwhile
                continue
            address, language = found[message.subject]
            try:
                await self._mailer.send(
                    address, mail_text(message.kind, language, self._portal_url)
                )
            except MailError as error:
                report.failed += 1
                if message.attempts + 1 < _MAX_ATTEMPTS:
                    await self._store.put_back(message)
                else:
                    report.dropped += 1
                _log.warning("notifications: the SMTP server did not take a message: %s", error)
                return report
            report.sent += 1
        return report
