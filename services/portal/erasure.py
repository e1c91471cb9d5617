"""The administrators' page for erasure: a closed stafettlogg, or one entry of a log, erased by
crypto-shredding in logg (services.logg.erasure), with the reason, and the report of what was
destroyed and what was kept for the archive.

logg decides (only a municipal administrator; a whole log only once closed) and records the
erasure in the access log; the portal only asks, after the administrator has confirmed in
words that it cannot be undone. The form works without JavaScript, keeps what was typed when
something is wrong (422) and carries CSRF.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State

from services.portal.admin import administrator_or_refusal
from services.portal.auth_client import (
    AUDIENCE_LOGG,
    AuthClient,
    AuthRefusedError,
    AuthUnavailableError,
)
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.logg_client import LoggClient, LoggError
from services.portal.norwegian import OSLO, format_date
from services.portal.rendering import is_htmx, render
from services.portal.routes import CurrentViewer
from services.portal.viewer import Viewer
from shared.wire import ErasureReport, ErasureRequest

__all__ = ["ERASURE_ROUTES", "KEPT_LABELS", "check_erasure_form"]

MIN_REASON, MAX_REASON = 10, 500
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONFIRMATION = "SLETT"
_Req = Request[Any, Any, Any]

# What logg reports as kept (KeptRecord.what), in plain words.
KEPT_LABELS = {
    "access-records": N_("Innsynsloggen: hvem som har lest og skrevet, og slettingen selv"),
    "access-head-signatures": N_(
        "Signerte kontrollsummer som viser at innsynsloggen ikke er endret"
    ),
    "erasure-record": N_("At loggen fantes: id, datoer, hvem som slettet, når og hvorfor"),
    "other-entries": N_("De andre oppføringene i stafettloggen"),
}


def _text(form: Mapping[str, object], name: str, limit: int = 64) -> str:
    raw = form.get(name, "")
    return _CONTROL.sub(" ", raw).strip()[: limit + 1] if isinstance(raw, str) else ""


def check_erasure_form(form: Mapping[str, object]) -> FormState:
    """`stafettlogg_id`, an optional `entry_id` (empty: the whole log), the `reason` (10 to 500
    characters) and `confirm` (the word SLETT), each with a message in Norwegian."""
    state = FormState(
        values={
            "stafettlogg_id": _text(form, "stafettlogg_id"),
            "entry_id": _text(form, "entry_id"),
            "reason": _text(form, "reason", MAX_REASON),
            "confirm": _text(form, "confirm"),
        }
    )
    values = state.values
    if not _ID.fullmatch(values["stafettlogg_id"]):
        state.errors["stafettlogg_id"] = N_(
            "Skriv id-en til stafettloggen, slik den står i adressen til loggen."
        )
    if values["entry_id"] and not _ID.fullmatch(values["entry_id"]):
        state.errors["entry_id"] = N_(
            "Id-en til oppføringen kan bare ha bokstaver, sifre, - og _. La feltet stå tomt for "
            "å slette hele loggen."
        )
    if len(values["reason"]) < MIN_REASON:
        state.errors["reason"] = N_(
            "Skriv hvorfor det slettes, med saksnummer eller vedtak (minst 10 tegn)."
        )
    elif len(values["reason"]) > MAX_REASON:
        state.errors["reason"] = N_("Begrunnelsen kan være høyst %(max)s tegn.", max=MAX_REASON)
    if values["confirm"].upper() != _CONFIRMATION:
        state.errors["confirm"] = N_("Skriv SLETT for å bekrefte at dette ikke kan angres.")
    return state


async def _retention_years(auth: AuthClient, viewer: Viewer) -> int | None:
    """The municipality's retention of closed logs (auth's settings), shown as guidance; None
    when auth cannot say now (the page works without it)."""
    try:
        return (await auth.municipal_settings(viewer.session_cookie)).retention_years
    except (AuthRefusedError, AuthUnavailableError):
        return None


async def _page(
    request: _Req,
    state: State,
    viewer: Viewer,
    form: FormState,
    *,
    report: ErasureReport | None = None,
    status_code: int = 200,
) -> Response[Any]:
    retention = await _retention_years(state.auth, viewer)
    return render(
        "admin_sletting.html",
        {
            "viewer": viewer,
            "form": form,
            "report": report,
            "kept_labels": KEPT_LABELS,
            "retention_years": retention,
            "erased_on": format_date(report.erased_at.astimezone(OSLO).date()) if report else "",
        },
        block="erasure" if is_htmx(request) else None,
        status_code=status_code,
    )


_NOT_DONE = ("_form", N_("Slettingen ble ikke gjort. Prøv igjen."))
_REFUSALS = {
    "stafettlogg-open": (
        "stafettlogg_id",
        N_("Loggen er ikke avsluttet. En stafettlogg må avsluttes før den kan slettes."),
    ),
    "stafettlogg-not-found": ("stafettlogg_id", N_("Vi fant ingen stafettlogg med denne id-en.")),
    "entry-not-found": ("entry_id", N_("Vi fant ingen oppføring med denne id-en i loggen.")),
    "administrator-only": ("_form", N_("Bare kommunens administratorer kan slette.")),
}


@get("/admin/sletting", name="erasure_page")
async def erasure_page(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    return await _page(request, state, admin, FormState(values={}))


@post("/admin/sletting", name="erase")
async def erase(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    form = check_erasure_form(await request.form())
    if not form.ok:
        return await _page(request, state, admin, form, status_code=422)
    auth: AuthClient = state.auth
    logg: LoggClient = state.logg
    token = await auth.access_token(admin.session_cookie, AUDIENCE_LOGG)
    body = ErasureRequest(reason=form.values["reason"])
    log_id, entry_id = form.values["stafettlogg_id"], form.values["entry_id"]
    try:
        if entry_id:
            report = await logg.erase_entry(token, log_id, entry_id, body)
        else:
            report = await logg.erase_stafettlogg(token, log_id, body)
    except LoggError as error:
        slug = error.type.rsplit(":", 1)[-1]
        if error.status == 404 and slug != "entry-not-found":
            slug = "stafettlogg-not-found"
        field, message = _REFUSALS.get(slug, _NOT_DONE)
        form.errors[field] = message
        status_code = 409 if error.status == 409 else 422
        return await _page(request, state, admin, form, status_code=status_code)
    return await _page(request, state, admin, FormState(values={}), report=report)


ERASURE_ROUTES = [erasure_page, erase]
