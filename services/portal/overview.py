"""The front page's logs at a glance: one card per log, for a phone first. The child's name,
the BTI level in words, who holds the baton, when something last happened, what waits for the
viewer (a meeting invitation to answer, consent to give, a handover to accept) and the next
meeting and evaluation dates.

A bounded number of logg calls per card, whatever the log's length, all cards at once: the
newest entry (when something last happened), the newest `MAX_PAGE` meetings and measures (their
dates are clear, `due_on`; the meetings still to come are opened to see whom they invite), the
viewer's answers to those meetings (one call, only when there are meetings to come), and for a
guardian the log's consents, for staff the log itself (a handover is shown only on one log's
view). Plus one call for the page of logs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime

from services.portal.auth_client import AUDIENCE_LOGG, AuthClient, AuthRefusedError, Principal
from services.portal.entry_bodies import MeetingBody
from services.portal.i18n import N_, ShownDate, ShownDateTime
from services.portal.logg_client import LoggClient
from services.portal.meetings import MEETING_RESPONSE, viewer_keys
from services.portal.norwegian import LEVEL_EXPLANATIONS, OSLO
from services.portal.sealing import (
    Description,
    OpenError,
    open_description,
    open_entry,
    open_epoch_keys,
)
from services.portal.viewer import Viewer
from shared.wire import MAX_ENTRY_FILTER_IDS, MAX_PAGE, EntryView, StafettloggView

__all__ = ["CARDS_PER_PAGE", "LogCard", "OverviewService", "ToDo"]

CARDS_PER_PAGE = 10
_DATED_TYPES = ("meeting", "measure")
UNKNOWN_NAME = N_("Ukjent")


@dataclass(frozen=True, slots=True)
class ToDo:
    """Something that waits for the viewer in one log: what to say (a catalogue message that
    the template shows in the person's language) and where on the log's page to do it."""

    message: str
    anchor: str


@dataclass(slots=True)
class LogCard:
    id: str
    child_name: str | None  # None: the description did not open
    title: str | None
    level: int
    level_text: str
    coordinator_name: str
    last_activity: str  # «22. november 2026 kl. 10:15»
    closed: bool
    todo: list[ToDo] = field(default_factory=list)
    next_meeting: str | None = None  # «1. desember 2026»
    next_evaluation: str | None = None


def _newest_time(view: StafettloggView, newest: list[EntryView]) -> datetime:
    moments = [view.created_at, *(entry.stored_at for entry in newest)]
    if view.level_changed_at is not None:
        moments.append(view.level_changed_at)
    if view.closed_at is not None:
        moments.append(view.closed_at)
    return max(moments)


def _when(body: MeetingBody) -> str:
    try:
        return ShownDateTime(datetime.fromisoformat(body.starts_at))
    except ValueError:
        return body.starts_at


def _first_from(dates: list[date], today: date) -> date | None:
    coming = [day for day in dates if day >= today]
    return min(coming) if coming else None


class OverviewService:
    def __init__(self, auth: AuthClient, logg: LoggClient) -> None:
        self._auth = auth
        self._logg = logg

    async def _token(self, viewer: Viewer) -> str:
        # A token is good for one call (logg refuses a replay): one exchange per call.
        return await self._auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)

    async def _principal(self, viewer: Viewer, subject: str) -> Principal | None:
        if subject == viewer.subject:
            own = viewer.keys.public()
            return Principal("person", subject, viewer.name, own.hpke_public, own.sign_public)
        try:
            return await self._auth.principal(viewer.session_cookie, "person", subject)
        except AuthRefusedError:
            return None

    async def _people(self, viewer: Viewer, subjects: set[str]) -> dict[str, Principal | None]:
        ordered = sorted(subjects)
        found = await asyncio.gather(*(self._principal(viewer, s) for s in ordered))
        return dict(zip(ordered, found, strict=True))

    def _epoch_keys(self, viewer: Viewer, view: StafettloggView) -> dict[int, bytes]:
        return open_epoch_keys(
            view,
            subject=viewer.subject,
            keys=viewer.keys,
            service_id=viewer.service_id,
            service_keys=viewer.service_keys,
        )

    async def cards(
        self, viewer: Viewer, *, cursor: str | None = None, today: date | None = None
    ) -> tuple[list[LogCard], str | None]:
        """A page of the viewer's logs as cards, and the cursor of the next page."""
        today = today or datetime.now(OSLO).date()
        page = await self._logg.list_stafettlogger(
            await self._token(viewer), cursor=cursor, limit=CARDS_PER_PAGE
        )
        authors = {view.sealed_description.header.author for view in page.items}
        coordinators = {view.coordinator for view in page.items if view.coordinator}
        people = await self._people(viewer, authors | coordinators)
        cards = await asyncio.gather(
            *(self._card(viewer, view, people, today) for view in page.items)
        )
        return list(cards), page.next_cursor

    def _description(
        self, view: StafettloggView, keys: dict[int, bytes], people: dict[str, Principal | None]
    ) -> Description | None:
        author = people.get(view.sealed_description.header.author)
        if author is None:
            return None
        try:
            return open_description(view, keys, author.public_keys())
        except (OpenError, ValueError):
            return None

    async def _card(
        self,
        viewer: Viewer,
        view: StafettloggView,
        people: dict[str, Principal | None],
        today: date,
    ) -> LogCard:
        keys = self._epoch_keys(viewer, view)
        description = self._description(view, keys, people)
        newest, dated = await asyncio.gather(
            self._logg.list_entries(await self._token(viewer), view.id, limit=1),
            self._logg.list_entries(
                await self._token(viewer), view.id, limit=MAX_PAGE, types=_DATED_TYPES
            ),
        )
        coordinator = people.get(view.coordinator) if view.coordinator else None
        meetings = [e for e in dated.items if e.sealed.header.type == "meeting" and e.due_on]
        measures = [e for e in dated.items if e.sealed.header.type == "measure" and e.due_on]
        next_meeting = _first_from([e.due_on for e in meetings if e.due_on], today)
        next_evaluation = _first_from([e.due_on for e in measures if e.due_on], today)
        card = LogCard(
            id=view.id,
            child_name=description.child_name if description else None,
            title=description.title if description else None,
            level=view.level,
            level_text=LEVEL_EXPLANATIONS.get(view.level, ""),
            coordinator_name=coordinator.name if coordinator else UNKNOWN_NAME,
            last_activity=ShownDateTime(_newest_time(view, newest.items)),
            closed=view.status != "open",
            next_meeting=ShownDate(next_meeting) if next_meeting else None,
            next_evaluation=ShownDate(next_evaluation) if next_evaluation else None,
        )
        if card.closed:
            return card
        coming = [e for e in meetings if e.due_on is not None and e.due_on >= today]
        card.todo += await self._invitations(viewer, view, keys, coming)
        if viewer.role == "guardian":
            card.todo += await self._consent_to_give(viewer, view)
        elif viewer.is_staff:
            card.todo += await self._handover_to_accept(viewer, view)
        return card

    async def _invitations(
        self,
        viewer: Viewer,
        view: StafettloggView,
        keys: dict[int, bytes],
        coming: list[EntryView],
    ) -> list[ToDo]:
        """The meetings still to come that invite the viewer and that they have not answered."""
        coming = coming[:MAX_ENTRY_FILTER_IDS]
        if not coming:
            return []
        answers = await self._logg.list_entries(
            await self._token(viewer),
            view.id,
            limit=MAX_PAGE,
            types=(MEETING_RESPONSE,),
            refers_to=[entry.id for entry in coming],
        )
        # The author is in the clear header: the viewer's own answers need no opening.
        answered = {
            entry.refers_to
            for entry in answers.items
            if entry.sealed.header.author == viewer.subject
        }
        people = await self._people(viewer, {entry.sealed.header.author for entry in coming})
        own_keys = viewer_keys(viewer.subject, viewer.service_id)
        todo = []
        for entry in sorted(coming, key=lambda e: e.due_on or date.max):
            if entry.id in answered:
                continue
            author = people.get(entry.sealed.header.author)
            if author is None:
                continue
            try:
                body = open_entry(view.id, entry, keys, author.public_keys())
            except (OpenError, ValueError):
                continue
            if isinstance(body, MeetingBody) and any(k in body.invited_keys for k in own_keys):
                todo.append(
                    ToDo(
                        N_("Svar på innkallingen til møtet %(when)s", when=_when(body)),
                        f"meeting-{entry.id}",
                    )
                )
        return todo

    async def _consent_to_give(self, viewer: Viewer, view: StafettloggView) -> list[ToDo]:
        """Services taking part that no consent has been recorded for (given, refused or
        withdrawn): the family has not decided yet."""
        services = [p.principal_id for p in view.participants if p.kind == "service"]
        if not services:
            return []
        consents = await self._logg.list_consents(await self._token(viewer), view.id)
        decided = {consent.service_id for consent in consents.items}
        waiting = [service_id for service_id in services if service_id not in decided]
        todo = []
        for service_id in waiting:
            try:
                unit = await self._auth.principal(viewer.session_cookie, "service", service_id)
            except AuthRefusedError:
                todo.append(ToDo(N_("Gi eller avslå samtykke for en tjeneste"), "consent"))
                continue
            todo.append(ToDo(N_("Gi eller avslå samtykke for %(name)s", name=unit.name), "consent"))
        return todo

    async def _handover_to_accept(self, viewer: Viewer, view: StafettloggView) -> list[ToDo]:
        full = await self._logg.get_stafettlogg(await self._token(viewer), view.id)
        pending = full.pending_handover
        if pending is None or pending.status != "proposed" or pending.to_subject != viewer.subject:
            return []
        return [ToDo(N_("Du er foreslått som ny stafettholder"), "lifecycle")]
