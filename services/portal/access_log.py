"""The innsynslogg: «Hvem har lest stafettloggen» — logg's access records for one log, newest
first, with names from auth's directory and every action in plain Norwegian.

Only the guardians (and the young person) and the coordinator may see it; logg decides, and the
page says so kindly to anyone else. The page itself reads nothing but the access records, so
looking at it leaves one record («så hvem som har lest stafettloggen») and no other. What one
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
from services.portal.logg_client import LoggClient, LoggError
from services.portal.norwegian import format_datetime
from services.portal.rendering import htmx_target, render
from services.portal.routes import CurrentViewer, checked_stafettlogg_id, require_viewer
from services.portal.stafettlogger import is_cursor
from services.portal.viewer import Viewer
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
    "create-stafettlogg": "opprettet stafettloggen",
    "read-stafettlogg": "leste loggen",
    "read-entries": "leste oppføringene",
    "write-entry": "skrev en oppføring",
    "read-participants": "så hvem som er med",
    "add-participant": "la til en deltaker",
    "remove-participant": "fjernet en deltaker",
    "read-consents": "så samtykkene",
    "read-consent-scan": "åpnet et skannet samtykkeskjema",
    "give-consent": "ga eller avslo samtykke",
    "record-paper-consent": "registrerte samtykke fra papirskjema",
    "withdraw-consent": "trakk tilbake samtykke",
    "record-paper-withdrawal": "registrerte at samtykke ble trukket tilbake på papir",
    "change-level": "endret nivå",
    "read-level-changes": "så nivåhistorikken",
    "propose-handover": "foreslo ny stafettholder",
    "accept-handover": "tok over som stafettholder",
    "close": "avsluttet stafettloggen",
    "read-access-log": "så hvem som har lest stafettloggen",
    "rotate-epoch": "byttet nøkkel etter at noen gikk ut",
}
_UNKNOWN_ACTION = "gjorde noe annet i stafettloggen"
_VISIT = timedelta(minutes=2)
_UNKNOWN_PERSON = "Ukjent person"
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


def _role_label(record: AccessRecordView, service_name: str | None) -> str:
    if "coordinator" in record.roles:
        return "Stafettholder"
    if record.caller_role == "guardian":
        return "Foresatt" if record.roles else "Ikke deltaker"
    if service_name:
        return f"Ansatt, {service_name}"
    return "Ansatt"


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
    wanted = {("person", record.subject) for record in page.items}
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
                role_label=_role_label(record, service_name),
                what=", ".join(actions),
                when=format_datetime(record.at),
                allowed=record.decision == "allowed",
            )
        )
    return AccessLogPage(stafettlogg_id, lines, page.next_cursor)


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
                heading="Du har ikke tilgang til innsynsloggen",
                message=(
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
