"""The innsynslogg: «Hvem har lest stafettloggen» — logg's access records for one log, newest
first, with names from auth's directory and every action in plain Norwegian.

Only the guardians (and the young person) and the coordinator may see it; logg decides, and the
page says so kindly to anyone else. The page reads the access records and, only when a family
member appears on it, the log's participants, to tell the young person («Ungdommen») from the
guardians: looking at it leaves the record «så hvem som har lest stafettloggen», then mostly
«leste loggen» too. What one
person did within a couple of minutes shows as one line (one visit), its actions listed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from services.portal.auth_client import AUDIENCE_LOGG, AuthClient, AuthRefusedError, Principal
from services.portal.errors import error_page
from services.portal.i18n import N_
from services.portal.logg_client import LoggClient, LoggError, LoggUnavailableError
from services.portal.norwegian import format_datetime
from services.portal.rendering import htmx_target, render
from services.portal.routes import CurrentViewer, checked_stafettlogg_id, require_viewer
from services.portal.stafettlogger import is_cursor
from services.portal.viewer import Viewer
from shared.tokens import NOTIFIER_SUBJECT
from shared.wire import AccessRecordView

__all__ = [
    "ACCESS_ACTION_LABELS",
    "ACCESS_LOG_ROUTES",
    "AccessLine",
    "AccessLogPage",
    "load_access_log",
]

RECORDS_PER_PAGE = 50

# Every action logg records (services/logg/access.py, Action), as «who … what».
ACCESS_ACTION_LABELS: dict[str, str] = {
    "create-stafettlogg": N_("opprettet stafettloggen"),
    "read-stafettlogg": N_("leste loggen"),
    "read-entries": N_("leste oppføringene"),
    "read-due-measures": N_("så hvilke tiltak som skal evalueres"),
    "write-entry": N_("skrev en oppføring"),
    "read-participants": N_("så hvem som er med"),
    "add-participant": N_("la til en deltaker"),
    "remove-participant": N_("fjernet en deltaker"),
    "read-consents": N_("så samtykkene"),
    "read-consent-scan": N_("åpnet et skannet samtykkeskjema"),
    "give-consent": N_("ga eller avslo samtykke"),
    "record-paper-consent": N_("registrerte samtykke fra papirskjema"),
    "withdraw-consent": N_("trakk tilbake samtykke"),
    "record-paper-withdrawal": N_("registrerte at samtykke ble trukket tilbake på papir"),
    "change-level": N_("endret nivå"),
    "read-level-changes": N_("så nivåhistorikken"),
    "propose-handover": N_("foreslo ny stafettholder"),
    "accept-handover": N_("tok over som stafettholder"),
    "close": N_("avsluttet stafettloggen"),
    "read-access-log": N_("så hvem som har lest stafettloggen"),
    "rotate-epoch": N_("byttet nøkkel etter at noen gikk ut"),
    "grant-keys": N_("ga en tjeneste nøkkelen til loggen etter nytt samtykke"),
    "erase-stafettlogg": N_("slettet stafettloggen (administrator)"),
    "erase-entry": N_("slettet en oppføring (administrator)"),
    "read-notification-feed": N_("så om det var noe nytt å varsle om (automatiske e-postvarsler)"),
}
_UNKNOWN_ACTION = N_("gjorde noe annet i stafettloggen")
_VISIT = timedelta(minutes=2)
_UNKNOWN_PERSON = N_("Ukjent person")
_NOTIFIER = N_("Varslingstjenesten (automatiske e-postvarsler)")
_Req = Request[Any, Any, Any]


@dataclass(frozen=True, slots=True)
class AccessLine:
    who: str
    role_label: str
    what: str
    when: str
    allowed: bool


@dataclass(frozen=True, slots=True)
class AccessLogPage:
    stafettlogg_id: str
    lines: list[AccessLine]
    next_cursor: str | None


def _role_label(
    record: AccessRecordView, service_name: str | None, youths: frozenset[str] = frozenset()
) -> str:
    if record.subject == NOTIFIER_SUBJECT:
        return N_("Automatisk")
    if "coordinator" in record.roles:
        return N_("Stafettholder")
    if record.caller_role == "guardian" and record.roles and record.subject in youths:
        return N_("Ungdommen")
    if record.caller_role == "guardian":
        return N_("Foresatt") if record.roles else N_("Ikke deltaker")
    if service_name:
        return N_("Ansatt, %(service)s", service=service_name)
    return N_("Ansatt")


async def _names(
    auth: AuthClient, viewer: Viewer, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    async def one(kind: str, id_: str) -> Principal | None:
        try:
            return await auth.principal(
                viewer.session_cookie,
                "person" if kind == "person" else "service",
                id_,
            )
        except AuthRefusedError:
            return None

    keys = sorted(wanted)
    found = await asyncio.gather(*(one(kind, id_) for kind, id_ in keys))
    names = {key: principal.name for key, principal in zip(keys, found, strict=True) if principal}
    names[("person", viewer.subject)] = viewer.name
    names[("person", NOTIFIER_SUBJECT)] = _NOTIFIER
    return names


async def load_access_log(
    auth: AuthClient, logg: LoggClient, viewer: Viewer, stafettlogg_id: str, cursor: str | None
) -> AccessLogPage:
    """One page of the log's access records, with names. Raises LoggError (403) for anyone
    but the guardians, the young person and the coordinator."""
    token = await auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)
    page = await logg.list_access_records(
        token, stafettlogg_id, limit=RECORDS_PER_PAGE, cursor=cursor
    )
    youths = await _youths(auth, logg, viewer, stafettlogg_id, page.items)
    wanted = {("person", r.subject) for r in page.items if r.subject != NOTIFIER_SUBJECT}
    wanted |= {("service", record.service) for record in page.items if record.service}
    names = await _names(auth, viewer, wanted)
    lines = []
    for group in _visits(page.items):
        record = group[0]
        service_name = names.get(("service", record.service)) if record.service else None
        actions = dict.fromkeys(
            ACCESS_ACTION_LABELS.get(r.action, _UNKNOWN_ACTION) for r in reversed(group)
        )
        lines.append(
            AccessLine(
                who=names.get(("person", record.subject), _UNKNOWN_PERSON),
                role_label=_role_label(record, service_name, youths),
                what=", ".join(actions),
                when=format_datetime(record.at),
                allowed=record.decision == "allowed",
            )
        )
    return AccessLogPage(stafettlogg_id, lines, page.next_cursor)


async def _youths(
    auth: AuthClient,
    logg: LoggClient,
    viewer: Viewer,
    stafettlogg_id: str,
    records: list[AccessRecordView],
) -> frozenset[str]:
    """The young person(s) taking part in the log, asked of logg only when a family member's
    record is on the page; none when logg cannot say (they are then shown as «Foresatt»)."""
    if not any(r.caller_role == "guardian" and r.roles for r in records):
        return frozenset()
    try:
        token = await auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)
        view = await logg.get_stafettlogg(token, stafettlogg_id)
    except (LoggError, LoggUnavailableError):
        return frozenset()
    return frozenset(p.principal_id for p in view.participants if p.kind == "person" and p.youth)


def _visits(records: list[AccessRecordView]) -> list[list[AccessRecordView]]:
    """Records (newest first) grouped into visits: one page view asks logg several things at
    once, and a family wants to read «Lars Lærer leste loggen», not five lines of it."""
    visits: list[list[AccessRecordView]] = []
    for record in records:
        last = visits[-1] if visits else None
        if (
            last is not None
            and (last[0].subject, last[0].service, last[0].decision)
            == (record.subject, record.service, record.decision)
            and last[0].at - record.at <= _VISIT
        ):
            last.append(record)
        else:
            visits.append([record])
    return visits


@get("/stafettlogger/{stafettlogg_id:str}/innsyn", name="access_log")
async def access_log(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    raw_cursor = request.query_params.get("cursor")
    cursor = raw_cursor if raw_cursor and is_cursor(raw_cursor) else None
    try:
        page = await load_access_log(state.auth, state.logg, viewer, stafettlogg_id, cursor)
    except LoggError as error:
        if error.status == 400 and cursor is not None:  # a cursor logg did not make
            page = await load_access_log(state.auth, state.logg, viewer, stafettlogg_id, None)
        elif error.status == 403:
            return error_page(
                request,
                403,
                heading=N_("Du har ikke tilgang til innsynsloggen"),
                message=N_(
                    "Bare foreldrene, ungdommen selv og stafettholderen kan se hvem som har "
                    "lest stafettloggen."
                ),
            )
        else:
            raise
    return render(
        "innsyn.html",
        {"viewer": viewer, "page": page, "cursor": cursor},
        block=htmx_target(request, ("access_records",)),
    )


ACCESS_LOG_ROUTES = [access_log]
