"""Evaluations due or overdue, across every log the viewer takes part in: the staff's list on the
front page. One logg call (GET /tiltak/forfall, which returns the logs with the measures), then
each measure and log description opened here; an auth lookup per distinct author (cached).

logg lists by the clear evaluation date and the absence of an evaluation; the sealed status is
read here, and a measure marked done or stopped is left out. Overdue is said in words
(«Forfalt»), not by colour alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime

from services.portal.auth_client import AUDIENCE_LOGG, AuthClient, AuthRefusedError, Principal
from services.portal.entry_bodies import MeasureBody
from services.portal.i18n import N_, ShownDate
from services.portal.logg_client import LoggClient, LoggError
from services.portal.norwegian import OSLO
from services.portal.sealing import OpenError, open_description, open_entry, open_epoch_keys
from services.portal.viewer import Viewer
from shared.wire import StafettloggView

__all__ = ["DUE_WITHIN_DAYS", "DueList", "DueMeasureLine", "DueMeasuresService"]

DUE_WITHIN_DAYS = 7
_PER_PAGE = 20
_OPEN_STATUSES = frozenset({"planned", "active"})


@dataclass(frozen=True, slots=True)
class DueMeasureLine:
    stafettlogg_id: str
    entry_id: str
    child_name: str | None  # None: the log's description did not open
    text: str | None  # None: the measure did not open
    responsible: str | None
    due: str  # the evaluation date, shown in the person's language
    overdue: bool
    status: str  # «Forfalt» or «Snart», a catalogue message


@dataclass(frozen=True, slots=True)
class DueList:
    lines: list[DueMeasureLine]
    next_cursor: str | None
    unavailable: bool = False  # logg could not give the list: say so, show the rest


class DueMeasuresService:
    def __init__(self, auth: AuthClient, logg: LoggClient) -> None:
        self._auth = auth
        self._logg = logg

    async def _author(self, viewer: Viewer, subject: str) -> Principal | None:
        if subject == viewer.subject:
            own = viewer.keys.public()
            return Principal("person", subject, viewer.name, own.hpke_public, own.sign_public)
        try:
            return await self._auth.principal(viewer.session_cookie, "person", subject)
        except AuthRefusedError:
            return None

    async def due(
        self, viewer: Viewer, *, cursor: str | None = None, today: date | None = None
    ) -> DueList:
        """The viewer's measures due within `DUE_WITHIN_DAYS` days or overdue, earliest first."""
        today = today or datetime.now(OSLO).date()
        token = await self._auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)
        try:
            page = await self._logg.due_measures(
                token, limit=_PER_PAGE, cursor=cursor, days=DUE_WITHIN_DAYS
            )
        except LoggError:
            return DueList([], None, unavailable=True)
        logs = {view.id: view for view in page.stafettlogger}
        subjects = sorted(
            {item.entry.sealed.header.author for item in page.items}
            | {view.sealed_description.header.author for view in page.stafettlogger}
        )
        found = await asyncio.gather(*(self._author(viewer, s) for s in subjects))
        authors = dict(zip(subjects, found, strict=True))
        keys = {view.id: self._epoch_keys(viewer, view) for view in page.stafettlogger}
        lines = []
        for item in page.items:
            view = logs.get(item.stafettlogg_id)
            due_on = item.entry.due_on
            if view is None or due_on is None:
                continue
            body = None
            author = authors.get(item.entry.sealed.header.author)
            if author is not None:
                try:
                    opened = open_entry(view.id, item.entry, keys[view.id], author.public_keys())
                except (OpenError, ValueError):
                    opened = None
                body = opened if isinstance(opened, MeasureBody) else None
            if body is not None and body.status not in _OPEN_STATUSES:
                continue  # marked done or stopped: nothing left to evaluate
            overdue = due_on < today
            lines.append(
                DueMeasureLine(
                    stafettlogg_id=view.id,
                    entry_id=item.entry.id,
                    child_name=self._child_name(view, keys[view.id], authors),
                    text=body.text if body is not None else None,
                    responsible=body.responsible if body is not None else None,
                    due=ShownDate(due_on),
                    overdue=overdue,
                    status=N_("Forfalt") if overdue else N_("Snart"),
                )
            )
        return DueList(lines, page.next_cursor)

    def _epoch_keys(self, viewer: Viewer, view: StafettloggView) -> dict[int, bytes]:
        return open_epoch_keys(
            view,
            subject=viewer.subject,
            keys=viewer.keys,
            service_id=viewer.service_id,
            service_keys=viewer.service_keys,
        )

    def _child_name(
        self,
        view: StafettloggView,
        keys: dict[int, bytes],
        authors: dict[str, Principal | None],
    ) -> str | None:
        author = authors.get(view.sealed_description.header.author)
        if author is None:
            return None
        try:
            return open_description(view, keys, author.public_keys()).child_name
        except (OpenError, ValueError):
            return None
