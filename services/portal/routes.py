"""The portal's pages. Handlers stay thin: read the form, call the service, render or redirect.

Every form posts without JavaScript (answer: 303 to the page); with htmx the handler answers
with the block the form targets. Invalid input re-renders the form with what was typed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeAlias

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.acting_service import ACTING_SERVICE_ROUTES
from services.portal.auth_client import AuthClient, AuthRefusedError
from services.portal.consent import consent_overview, new_consent_id
from services.portal.due_measures import DueMeasuresService
from services.portal.entry_form import draft_entry
from services.portal.errors import NO_ACCESS, error_page
from services.portal.form_actions import (
    FormOutcome,
    FormRefusedError,
    NoKey,
    Refusal,
    run_form_action,
)
from services.portal.forms import (
    FORM_ENTRY_TYPES,
    MAX_CHILD_NAME,
    MAX_TEXT,
    MAX_TITLE,
    FormState,
    check_entry_form,
    check_guardian_form,
    check_new_stafettlogg_form,
    check_service_form,
)
from services.portal.i18n import N_
from services.portal.logg_client import LoggClient, LoggError
from services.portal.norwegian import ENTRY_FORM_LABELS, ENTRY_TYPE_LABELS, TIMELINE_TYPE_LABELS
from services.portal.overview import OverviewService
from services.portal.rendering import htmx_target, is_htmx, render
from services.portal.sealing import Description
from services.portal.stafettlogger import (
    NoEpochKeyError,
    StafettloggPage,
    StafettloggService,
    is_cursor,
    is_stafettlogg_id,
    named_entries,
)
from services.portal.viewer import NotLoggedInError, Viewer, load_viewer

__all__ = [
    "ROUTES",
    "after_post",
    "checked_stafettlogg_id",
    "log_page",
    "provide_viewer",
    "require_viewer",
]

_PAGE_BLOCKS = (
    "entries",
    "participants",
    "consent",
    "lifecycle",
    "entry_form",
    "entry_fields",
)
_NO_KEY = NoKey(
    NoEpochKeyError,
    N_(
        "Du mangler nøkkelen som trengs for å skrive her. "
        "Be stafettholderen om å legge deg til på nytt."
    ),
)
_Req = Request[Any, Any, Any]
CurrentViewer: TypeAlias = NamedDependency[Viewer | None]  # the logged-in person, or None


async def provide_viewer(request: _Req, state: State) -> Viewer | None:
    auth: AuthClient = state.auth
    return await load_viewer(auth, request.cookies.get(state.settings.session_cookie_name))


def _require(viewer: CurrentViewer) -> Viewer:
    if viewer is None:
        raise NotLoggedInError
    return viewer


def _stafettlogger(state: State) -> StafettloggService:
    service: StafettloggService = state.stafettlogger
    return service


def _checked_id(stafettlogg_id: str) -> str:
    if not is_stafettlogg_id(stafettlogg_id):
        raise NotFoundException
    return stafettlogg_id


def _cursor(request: _Req) -> str | None:
    cursor = request.query_params.get("cursor")
    return cursor if cursor and is_cursor(cursor) else None


def _shown_types(request: _Req) -> tuple[str, ...]:
    """The timeline's filter (`?vis=measure&vis=meeting`): known entry types only, in order."""
    chosen = set(request.query_params.getall("vis", []))
    return tuple(entry_type for entry_type in TIMELINE_TYPE_LABELS if entry_type in chosen)


def _see_page(request: _Req, path: str) -> Response[Any]:
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": path})
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


@get("/", name="front_page")
async def front_page(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    if viewer is None:
        return render("front.html", {"viewer": None})
    overview = OverviewService(state.auth, state.logg)
    cards, next_cursor = await overview.cards(viewer, cursor=_cursor(request))
    due = None
    if viewer.is_staff:  # evaluations due across the logs: staff evaluate measures
        due_cursor = request.query_params.get("forfall")
        due = await DueMeasuresService(state.auth, state.logg).due(
            viewer, cursor=due_cursor if due_cursor and is_cursor(due_cursor) else None
        )
    return render(
        "front.html",
        {"viewer": viewer, "stafettlogger": cards, "next_cursor": next_cursor, "due": due},
        block=htmx_target(request, ("stafettlogg_list",)),
    )


def _new_form(request: _Req, viewer: Viewer, form: FormState, status_code: int) -> Response[Any]:
    return render(
        "new_stafettlogg.html",
        {
            "viewer": viewer,
            "form": form,
            "max_child_name": MAX_CHILD_NAME,
            "max_title": MAX_TITLE,
        },
        block="new_stafettlogg_form" if is_htmx(request) else None,
        status_code=status_code,
    )


def _staff_only(request: _Req) -> Response[Any]:
    return error_page(
        request,
        403,
        heading=N_("Bare ansatte kan opprette stafettlogger"),
        message=N_("Logg inn som ansatt for å opprette en ny stafettlogg."),
    )


@get("/stafettlogger/ny", name="new_stafettlogg")
async def new_stafettlogg(request: _Req, viewer: CurrentViewer) -> Response[Any]:
    viewer = _require(viewer)
    if not viewer.is_staff:
        return _staff_only(request)
    return _new_form(request, viewer, FormState(), 200)


@post("/stafettlogger", name="create_stafettlogg")
async def create_stafettlogg(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    viewer = _require(viewer)
    if not viewer.is_staff:
        return _staff_only(request)
    form = check_new_stafettlogg_form(await request.form())
    if not form.ok:
        return _new_form(request, viewer, form, 422)
    description = Description(
        child_name=form.values["child_name"],
        child_birth_date=form.values["child_birth_date"],
        title=form.values["title"],
    )
    try:
        stafettlogg_id = await _stafettlogger(state).create(viewer, description)
    except LoggError as error:
        form.errors["_form"] = (
            N_("Du har ikke lov til å opprette stafettlogger.")
            if error.status == 403
            else N_("Stafettloggen kunne ikke opprettes. Prøv igjen.")
        )
        return _new_form(request, viewer, form, 403 if error.status == 403 else 400)
    return _see_page(request, f"/stafettlogger/{stafettlogg_id}")


async def _log_page(
    request: _Req,
    state: State,
    viewer: Viewer,
    stafettlogg_id: str,
    *,
    forms: dict[str, FormState] | None = None,
    block: str | None = None,
    status_code: int = 200,
    notice: str | None = None,
    notice_for: str | None = None,
    page: StafettloggPage | None = None,
) -> Response[Any]:
    """The log's page. `page`: the page as just loaded with no cursor and no named entries,
    to show as it is when that is what would be loaded again (nothing written since)."""
    forms = forms or {}
    entry_form = forms.get("entry", FormState())
    named = named_entries(entry_form.values)  # an older entry it names stays a choice
    shown_types = _shown_types(request)
    if page is None or _cursor(request) is not None or named or shown_types:
        page = await _stafettlogger(state).page(
            viewer, stafettlogg_id, cursor=_cursor(request), named=named, types=shown_types
        )
    return render(
        "stafettlogg.html",
        {
            "viewer": viewer,
            "page": page,
            "entry_form": entry_form,
            "guardian_form": forms.get("guardian", FormState()),
            "service_form": forms.get("service", FormState()),
            "entry_types": {t: ENTRY_TYPE_LABELS[t] for t in FORM_ENTRY_TYPES},
            "max_text": MAX_TEXT,
            "notice": notice,
            "notice_for": notice_for,
            "cursor": _cursor(request),
            "timeline_types": TIMELINE_TYPE_LABELS,
            "shown_types": shown_types,
            "consent": consent_overview(page, viewer),
            "consent_form": forms.get("consent", FormState()),
            "paper_consent_form": forms.get("paper_consent", FormState()),
            "paper_withdrawal_form": forms.get("paper_withdrawal", FormState()),
            "new_consent_id": new_consent_id,
            # the lifecycle section's forms (services.portal.lifecycle); an empty one if not given
            "all_forms": defaultdict(FormState, forms),
            "labels": ENTRY_FORM_LABELS,
            "htmx": is_htmx(request),
        },
        block=block,
        status_code=status_code,
    )


@get("/stafettlogger/{stafettlogg_id:str}", name="stafettlogg")
async def stafettlogg(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = _require(viewer)
    corrects = request.query_params.get("rett_opp", "")
    entry_type = request.query_params.get("entry_type", "")
    forms = None
    if is_stafettlogg_id(corrects):  # «Rett opp» on an entry: the entry form, set to correct it
        forms = {"entry": FormState(values={"entry_type": "correction", "corrects": corrects})}
    elif entry_type in FORM_ENTRY_TYPES:  # htmx: the fields for the type just chosen
        forms = {"entry": FormState(values={"entry_type": entry_type})}
    return await _log_page(
        request,
        state,
        viewer,
        _checked_id(stafettlogg_id),
        forms=forms,
        block=htmx_target(request, _PAGE_BLOCKS),
    )


def _refusal(conflict: str) -> Callable[[LoggError], Refusal]:
    """logg's refusal of a form on the page, with `conflict` as the message for a 409."""

    def refusal(error: LoggError) -> Refusal:
        if error.status == 403:
            return Refusal(NO_ACCESS, 403)
        if error.status == 409:
            return Refusal(conflict, 409)
        if error.status == 404:
            raise error
        return Refusal(N_("Det gikk ikke å lagre. Prøv igjen."), 400)

    return refusal


async def _after_post(
    request: _Req,
    state: State,
    viewer: Viewer,
    stafettlogg_id: str,
    block: str,
    *,
    form_name: str,
    outcome: FormOutcome,
) -> Response[Any]:
    """Re-render (with errors and what was typed), or on success go back to the page."""
    form = outcome.form
    if form.ok and not is_htmx(request):
        return Redirect(path=f"/stafettlogger/{stafettlogg_id}", status_code=HTTP_303_SEE_OTHER)
    return await _log_page(
        request,
        state,
        viewer,
        stafettlogg_id,
        forms={form_name: form} if not form.ok else None,
        block=block if is_htmx(request) else None,
        status_code=outcome.status_code,
        notice=outcome.notice,
        notice_for=block,
    )


@post("/stafettlogger/{stafettlogg_id:str}/oppforinger", name="write_entry")
async def write_entry(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = _require(viewer)
    stafettlogg_id = _checked_id(stafettlogg_id)
    service = _stafettlogger(state)
    posted = await request.form()
    choices = await service.entry_choices(viewer, stafettlogg_id, named=named_entries(posted))
    form = check_entry_form(posted, choices)

    async def write() -> str:
        await service.write_draft(viewer, stafettlogg_id, draft_entry(form, choices))
        return N_("Oppføringen er lagret.")

    outcome = await run_form_action(
        form,
        write,
        refusal=_refusal(N_("Oppføringen kunne ikke lagres. Prøv igjen.")),
        no_key=_NO_KEY,
    )
    return await _after_post(
        request, state, viewer, stafettlogg_id, "entries", form_name="entry", outcome=outcome
    )


@post("/stafettlogger/{stafettlogg_id:str}/foresatte", name="add_guardian")
async def add_guardian(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = _require(viewer)
    stafettlogg_id = _checked_id(stafettlogg_id)
    form = check_guardian_form(await request.form())

    async def add() -> str:
        pid = form.values["pid"].replace(" ", "")
        try:
            name = await _stafettlogger(state).add_guardian(viewer, stafettlogg_id, pid)
        except AuthRefusedError as error:
            if error.status in {400, 404}:
                raise FormRefusedError(
                    Refusal(
                        N_(
                            "Fødselsnummeret er ikke gyldig. "
                            "Sjekk at alle de 11 sifrene er riktige."
                        ),
                        422,
                        "pid",
                    )
                ) from error
            raise FormRefusedError(
                Refusal(N_("Bare ansatte kan legge til foresatte."), 403, "pid")
            ) from error
        return N_("%(name)s er lagt til som foresatt.", name=name)

    outcome = await run_form_action(
        form,
        add,
        refusal=_refusal(N_("Denne personen er allerede med i stafettloggen.")),
        no_key=_NO_KEY,
    )
    return await _after_post(
        request,
        state,
        viewer,
        stafettlogg_id,
        "participants",
        form_name="guardian",
        outcome=outcome,
    )


@post("/stafettlogger/{stafettlogg_id:str}/tjenester", name="add_service")
async def add_service(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = _require(viewer)
    stafettlogg_id = _checked_id(stafettlogg_id)
    service = _stafettlogger(state)
    form = check_service_form(await request.form(), await service.service_ids(viewer))

    async def add() -> str:
        try:
            name = await service.add_service(viewer, stafettlogg_id, form.values["service_id"])
        except LookupError as error:
            raise FormRefusedError(
                Refusal(N_("Velg en tjeneste fra listen."), 422, "service_id")
            ) from error
        return N_("%(name)s er lagt til.", name=name)

    outcome = await run_form_action(
        form,
        add,
        refusal=_refusal(N_("Tjenesten er allerede med i stafettloggen.")),
        no_key=_NO_KEY,
    )
    return await _after_post(
        request, state, viewer, stafettlogg_id, "participants", form_name="service", outcome=outcome
    )


@get("/healthz", name="healthz")
async def healthz(state: State) -> Response[dict[str, str]]:
    auth: AuthClient = state.auth
    logg: LoggClient = state.logg
    auth_ok, logg_ok = await asyncio.gather(auth.healthy(), logg.healthy())
    if auth_ok and logg_ok:
        return Response({"status": "ok"}, status_code=200)
    return Response(
        {
            "status": "unavailable",
            "auth": "ok" if auth_ok else "unavailable",
            "logg": "ok" if logg_ok else "unavailable",
        },
        status_code=503,
    )


ROUTES = [
    front_page,
    new_stafettlogg,
    create_stafettlogg,
    stafettlogg,
    write_entry,
    add_guardian,
    add_service,
    healthz,
    *ACTING_SERVICE_ROUTES,
]

# For the modules whose forms sit on the log's page (consent_routes, …): the same checks and
# the same answer after a post as the page's own forms.
after_post = _after_post
log_page = _log_page
checked_stafettlogg_id = _checked_id
require_viewer = _require
