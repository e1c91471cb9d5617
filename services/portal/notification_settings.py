"""«Varsler»: where a person (guardian, young person, staff) is told by e-mail that something new
is waiting in a log they take part in, or that a measure is due for evaluation, and whether at
all. The e-mail never holds what was written (auth's notifier, services.auth.notifications).

The address is checked here for what a person can fix at once (shape, length) and again by auth,
which decides; a refusal keeps what was typed. Works without JavaScript (303 back to the page);
with htmx only the form is swapped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.auth_client import AuthClient, AuthRefusedError, NotificationPreferences
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.rendering import htmx_target, is_htmx, render
from services.portal.routes import CurrentViewer
from services.portal.viewer import NotLoggedInError, Viewer

__all__ = ["MAX_ADDRESS", "NOTIFICATION_ROUTES", "check_notification_form"]

MAX_ADDRESS = 254
LANGUAGES = ("nb", "nn", "en")
_ADDRESS = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_Req = Request[Any, Any, Any]
_BLOCK = "notification_settings"
_SAVED = "/varsler?lagret=1"


def check_notification_form(form: Mapping[str, object]) -> FormState:
    """`email` (may be empty: no e-mail), `varsler` (the checkbox: «på» for on) and `sprak`."""
    raw = form.get("email", "")
    email = raw.strip() if isinstance(raw, str) else ""
    enabled = form.get("varsler") == "på"
    language = form.get("sprak")
    state = FormState(
        values={
            "email": _CONTROL.sub("", email),
            "varsler": "på" if enabled else "",
            "sprak": language if isinstance(language, str) and language in LANGUAGES else "nb",
        }
    )
    if len(email) > MAX_ADDRESS:
        state.errors["email"] = N_("E-postadressen kan være høyst %(max)s tegn.", max=MAX_ADDRESS)
    elif email and (_CONTROL.search(email) or not _ADDRESS.fullmatch(email)):
        state.errors["email"] = N_(
            "Dette ser ikke ut som en e-postadresse. Skriv den slik: navn@eksempel.no"
        )
    if enabled and not email and not state.errors:
        state.errors["email"] = N_("Skriv en e-postadresse for å få varsler, eller slå varsler av.")
    if language not in (None, *LANGUAGES):
        state.errors["sprak"] = N_("Velg et av språkene i listen.")
    return state


def _auth(state: State) -> AuthClient:
    auth: AuthClient = state.auth
    return auth


def _viewer(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise NotLoggedInError
    return viewer


def _page(
    request: _Req,
    viewer: Viewer,
    form: FormState,
    *,
    status_code: int = 200,
    notice: str | None = None,
) -> Response[Any]:
    return render(
        "varsler.html",
        {"viewer": viewer, "form": form, "notice": notice, "max_address": MAX_ADDRESS},
        block=_BLOCK
        if is_htmx(request) and request.method == "POST"
        else htmx_target(request, (_BLOCK,)),
        status_code=status_code,
    )


@get("/varsler", name="notification_settings")
async def notification_settings(
    request: _Req, state: State, viewer: CurrentViewer
) -> Response[Any]:
    person = _viewer(viewer)
    stored = await _auth(state).notification_preferences(person.session_cookie)
    form = FormState(
        values={
            "email": stored.email or "",
            "varsler": "på" if stored.enabled else "",
            "sprak": stored.language if stored.language in LANGUAGES else "nb",
        }
    )
    saved = request.query_params.get("lagret") == "1"
    notice = N_("Valgene dine er lagret.") if saved else None
    return _page(request, person, form, notice=notice)


@post("/varsler", name="save_notification_settings")
async def save_notification_settings(
    request: _Req, state: State, viewer: CurrentViewer
) -> Response[Any]:
    person = _viewer(viewer)
    form = check_notification_form(await request.form())
    if not form.ok:
        return _page(request, person, form, status_code=422)
    chosen = NotificationPreferences(
        email=form.values["email"] or None,
        enabled=form.values["varsler"] == "på",
        language=form.values["sprak"],
    )
    try:
        await _auth(state).set_notification_preferences(person.session_cookie, chosen)
    except AuthRefusedError as error:
        if error.status != 400:
            raise
        form.errors["email"] = N_(
            "Denne e-postadressen kan vi ikke sende til. Sjekk at den er riktig skrevet."
        )
        return _page(request, person, form, status_code=422)
    if is_htmx(request):
        return _page(request, person, form, notice=N_("Valgene dine er lagret."))
    return Redirect(path=_SAVED, status_code=HTTP_303_SEE_OTHER)


NOTIFICATION_ROUTES = [notification_settings, save_notification_settings]
