"""The administrators' pages: service units, staff and import of a staff list (CSV).

Only a viewer whose session says `admin` sees them; auth checks the admin claim again on every
call, so a page shown by mistake still changes nothing. Every form works without JavaScript
(303 back to the page), keeps what was typed when something is wrong (422), and carries CSRF.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.auth_client import (
    AdminImportLineError,
    AdminImportRejectedError,
    AdminImportResult,
    AdminRefusedError,
    AdminServiceUnit,
    AuthClient,
)
from services.portal.errors import error_page
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.rendering import htmx_target, is_htmx, render
from services.portal.routes import CurrentViewer
from services.portal.viewer import NotLoggedInError, Viewer

__all__ = [
    "ADMIN_ROUTES",
    "MAX_SERVICE_NAME",
    "MAX_STAFF_FILE",
    "administrator_or_refusal",
    "auth_of",
    "check_service_unit_form",
    "check_staff_form",
    "not_admin_page",
]

MAX_SERVICE_NAME = 120
MAX_STAFF_NAME = 200
MAX_STAFF_FILE = 1024 * 1024
_SERVICE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_PID = re.compile(r"^[0-9]{11}$")
_SUBJECT = re.compile(r"^p_[A-Za-z0-9_-]{1,30}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")  # auth decides; this catches typos
_MAX_EMAIL = 254
_CSV_TYPES = frozenset(
    {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", ""}
)
_Req = Request[Any, Any, Any]


# -- checks of what an administrator typed ---------------------------------------------------


def _text(form: Mapping[str, object], name: str) -> str:
    raw = form.get(name, "")
    return " ".join(_CONTROL.sub(" ", raw).split()) if isinstance(raw, str) else ""


def check_service_unit_form(form: Mapping[str, object]) -> FormState:
    """`service_id` (a lowercase slug) and `name` (1-120 characters), each with a message."""
    state = FormState(values={"service_id": _text(form, "service_id"), "name": _text(form, "name")})
    service_id, name = state.values["service_id"], state.values["name"]
    if not service_id:
        state.errors["service_id"] = N_("Skriv en id for tjenesten, for eksempel «nordby-skole».")
    elif not _SERVICE_ID.fullmatch(service_id):
        state.errors["service_id"] = N_(
            "Id-en kan bare ha små bokstaver (a til z), sifre og bindestrek, høyst 64 tegn, "
            "og kan ikke begynne eller slutte med bindestrek."
        )
    if not name:
        state.errors["name"] = N_("Skriv navnet på tjenesten.")
    elif len(name) > MAX_SERVICE_NAME:
        state.errors["name"] = N_(
            "Navnet kan være høyst %(max_service_name)s tegn.", max_service_name=MAX_SERVICE_NAME
        )
    return state


def check_staff_form(form: Any, active_service_ids: set[str]) -> tuple[FormState, list[str]]:
    """`pid` (11 digits; auth checks the check digits), `name`, `service_ids` (checkboxes),
    `admin` and `email` (optional: where notifications go; auth checks it). Returns the state
    and the chosen service ids."""
    typed_pid = _text(form, "pid")
    chosen = [v for v in form.getall("service_ids", []) if isinstance(v, str)]
    admin = _text(form, "admin") == "ja"
    state = FormState(
        values={
            "pid": typed_pid,
            "name": _text(form, "name"),
            "admin": "ja" if admin else "",
            "email": _text(form, "email"),
        }
    )
    email = state.values["email"]
    if email and (len(email) > _MAX_EMAIL or not _EMAIL.fullmatch(email)):
        state.errors["email"] = N_(
            "Dette ser ikke ut som en e-postadresse. Skriv den slik: navn@eksempel.no"
        )
    pid = typed_pid.replace(" ", "")
    if not pid:
        state.errors["pid"] = N_("Skriv fødselsnummeret til den ansatte.")
    elif not _PID.fullmatch(pid):
        state.errors["pid"] = N_(
            "Et fødselsnummer har 11 siffer. Sjekk at du har skrevet det riktig."
        )
    name = state.values["name"]
    if not name:
        state.errors["name"] = N_("Skriv navnet til den ansatte.")
    elif len(name) > MAX_STAFF_NAME:
        state.errors["name"] = N_(
            "Navnet kan være høyst %(max_staff_name)s tegn.", max_staff_name=MAX_STAFF_NAME
        )
    service_ids = list(dict.fromkeys(chosen))
    if any(service_id not in active_service_ids for service_id in service_ids):
        state.errors["service_ids"] = N_("Velg tjenester fra listen.")
    elif not service_ids and not admin:
        state.errors["service_ids"] = N_(
            "Velg minst én tjeneste. Bare administratorer kan være uten tjeneste."
        )
    return state, service_ids


# -- helpers (also for the other administrators' pages: settings, erasure) ----------------------


def auth_of(state: State) -> AuthClient:
    auth: AuthClient = state.auth
    return auth


def administrator_or_refusal(request: _Req, viewer: Viewer | None) -> Viewer | Response[Any]:
    """The viewer if their session says administrator, else the 403 page to return (auth
    checks the admin claim again on every call)."""
    if viewer is None:
        raise NotLoggedInError
    if not viewer.is_admin:
        return not_admin_page(request)
    return viewer


def not_admin_page(request: _Req) -> Response[Any]:
    return error_page(
        request,
        403,
        heading=N_("Bare administratorer har tilgang her"),
        message=N_(
            "Sidene for administrasjon er for kommunens administratorer. "
            "Ta kontakt med en administrator hvis du mener du skal ha tilgang."
        ),
    )


def _back_to(request: _Req, path: str) -> Response[Any]:
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": path})
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


# -- pages -----------------------------------------------------------------------------------


@get("/admin", name="admin_overview")
async def admin_overview(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    try:
        services = await auth_of(state).admin_services(admin.session_cookie)
        staff = await auth_of(state).admin_staff(admin.session_cookie)
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        raise
    return render(
        "admin_overview.html",
        {
            "viewer": admin,
            "active_services": sum(1 for unit in services if unit.active),
            "active_staff": sum(1 for member in staff if member.active),
            "administrators": sum(1 for member in staff if member.active and member.admin),
        },
    )


async def _services_page(
    request: _Req,
    state: State,
    viewer: Viewer,
    form: FormState | None = None,
    *,
    status_code: int = 200,
    notice: str | None = None,
) -> Response[Any]:
    services = await auth_of(state).admin_services(viewer.session_cookie)
    return render(
        "admin_tjenester.html",
        {
            "viewer": viewer,
            "services": services,
            "form": form or FormState(),
            "notice": notice,
            "max_name": MAX_SERVICE_NAME,
        },
        block="services_admin"
        if is_htmx(request) and request.method == "POST"
        else htmx_target(request, ("services_admin",)),
        status_code=status_code,
    )


@get("/admin/tjenester", name="admin_services")
async def admin_services(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    try:
        return await _services_page(request, state, admin)
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        raise


@post("/admin/tjenester", name="admin_add_service")
async def admin_add_service(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    form = check_service_unit_form(await request.form())
    if form.ok:
        try:
            unit = await auth_of(state).admin_add_service(
                admin.session_cookie, form.values["service_id"], form.values["name"]
            )
        except AdminRefusedError as error:
            if error.status == 403:
                return not_admin_page(request)
            if error.status == 409:
                form.errors["service_id"] = N_("Det finnes allerede en tjeneste med denne id-en.")
            else:
                form.errors["_form"] = N_("Tjenesten kunne ikke lagres. Sjekk id og navn.")
        else:
            if not is_htmx(request):
                return _back_to(request, "/admin/tjenester")
            return await _services_page(
                request, state, admin, notice=N_("%(name)s er lagt til.", name=unit.name)
            )
    return await _services_page(request, state, admin, form, status_code=422)


async def _staff_page(
    request: _Req,
    state: State,
    viewer: Viewer,
    form: FormState | None = None,
    chosen: list[str] | None = None,
    *,
    status_code: int = 200,
    notice: str | None = None,
) -> Response[Any]:
    auth = auth_of(state)
    services = await auth.admin_services(viewer.session_cookie)
    staff = await auth.admin_staff(viewer.session_cookie)
    names = {unit.id: unit.name for unit in services}
    return render(
        "admin_ansatte.html",
        {
            "viewer": viewer,
            "staff": staff,
            "service_names": names,
            "active_services": [unit for unit in services if unit.active],
            "form": form or FormState(),
            "chosen": set(chosen or []),
            "notice": notice,
        },
        block="staff_admin"
        if is_htmx(request) and request.method == "POST"
        else htmx_target(request, ("staff_admin",)),
        status_code=status_code,
    )


@get("/admin/ansatte", name="admin_staff")
async def admin_staff(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    try:
        return await _staff_page(request, state, admin)
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        raise


def _active_ids(services: list[AdminServiceUnit]) -> set[str]:
    return {unit.id for unit in services if unit.active}


@post("/admin/ansatte", name="admin_add_staff")
async def admin_add_staff(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    auth = auth_of(state)
    try:
        services = await auth.admin_services(admin.session_cookie)
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        raise
    form, chosen = check_staff_form(await request.form(), _active_ids(services))
    if form.ok:
        try:
            member = await auth.admin_add_staff(
                admin.session_cookie,
                pid=form.values["pid"].replace(" ", ""),
                name=form.values["name"],
                service_ids=chosen,
                admin=form.values["admin"] == "ja",
                email=form.values["email"] or None,
            )
        except AdminRefusedError as error:
            if error.status == 403:
                return not_admin_page(request)
            if error.slug == "invalid-email":
                form.errors["email"] = N_(
                    "Denne e-postadressen kan vi ikke sende til. Sjekk at den er riktig skrevet."
                )
            elif error.slug == "invalid-fodselsnummer":
                form.errors["pid"] = N_(
                    "Fødselsnummeret er ikke gyldig. Sjekk at alle de 11 sifrene er riktige."
                )
            elif error.status == 409:
                form.errors["pid"] = N_("Denne personen er allerede registrert som ansatt.")
            elif error.slug in {"unknown-service", "service-required"}:
                form.errors["service_ids"] = N_("Velg minst én tjeneste fra listen.")
            else:
                form.errors["_form"] = N_("Den ansatte kunne ikke lagres. Prøv igjen.")
        else:
            if not is_htmx(request):
                return _back_to(request, "/admin/ansatte")
            return await _staff_page(
                request,
                state,
                admin,
                notice=N_("%(name)s er lagt til som ansatt.", name=member.name),
            )
    return await _staff_page(request, state, admin, form, chosen, status_code=422)


@post("/admin/ansatte/{subject:str}/deaktiver", name="admin_deactivate_staff")
async def admin_deactivate_staff(
    request: _Req, state: State, viewer: CurrentViewer, subject: FromPath[str]
) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    if not _SUBJECT.fullmatch(subject):
        return error_page(request, 404)
    try:
        member = await auth_of(state).admin_deactivate_staff(admin.session_cookie, subject)
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        if error.status == 404:
            return error_page(request, 404)
        message = (
            N_("Du kan ikke deaktivere deg selv.")
            if error.status == 409
            else N_("Den ansatte kunne ikke deaktiveres. Prøv igjen.")
        )
        return await _staff_page(
            request, state, admin, FormState(errors={"_form": message}), status_code=409
        )
    if not is_htmx(request):
        return _back_to(request, "/admin/ansatte")
    return await _staff_page(
        request,
        state,
        admin,
        notice=N_("%(name)s er deaktivert og kan ikke logge inn.", name=member.name),
    )


def _import_page(
    request: _Req,
    viewer: Viewer,
    form: FormState | None = None,
    *,
    result: AdminImportResult | None = None,
    line_errors: list[AdminImportLineError] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    return render(
        "admin_import.html",
        {
            "viewer": viewer,
            "form": form or FormState(),
            "result": result,
            "line_errors": line_errors or [],
        },
        block="import_admin"
        if is_htmx(request) and request.method == "POST"
        else htmx_target(request, ("import_admin",)),
        status_code=status_code,
    )


@get("/admin/import", name="admin_import")
async def admin_import(request: _Req, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    return _import_page(request, admin)


async def _read_upload(upload: object, form: FormState) -> bytes | None:
    if not isinstance(upload, UploadFile) or not upload.filename:
        form.errors["file"] = N_("Velg en fil å laste opp.")
        return None
    media_type = (upload.content_type or "").split(";")[0].strip().lower()
    if not upload.filename.lower().endswith(".csv") or media_type not in _CSV_TYPES:
        form.errors["file"] = N_(
            "Filen må være en CSV-fil (.csv). Lagre regnearket som «CSV UTF-8»."
        )
        return None
    body = await upload.read(MAX_STAFF_FILE + 1)
    if len(body) > MAX_STAFF_FILE:
        form.errors["file"] = N_("Filen er større enn 1 MiB. Del den opp i flere filer.")
        return None
    if not body.strip():
        form.errors["file"] = N_("Filen er tom.")
        return None
    return body


@post(
    "/admin/import",
    name="admin_import_staff",
    request_max_body_size=MAX_STAFF_FILE + 64 * 1024,
)
async def admin_import_staff(request: _Req, state: State, viewer: CurrentViewer) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    form = FormState()
    body = await _read_upload((await request.form()).get("file"), form)
    if body is None:
        return _import_page(request, admin, form, status_code=422)
    try:
        result = await auth_of(state).admin_import_staff(admin.session_cookie, body)
    except AdminImportRejectedError as error:
        form.errors["file"] = N_("Filen har feil. Ingen ansatte er importert. Rett linjene under.")
        return _import_page(request, admin, form, line_errors=error.errors, status_code=422)
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        form.errors["file"] = (
            N_("Filen har ikke riktig format. Lagre regnearket som «CSV UTF-8».")
            if error.status == 415
            else N_("Filen kunne ikke importeres. Prøv igjen.")
        )
        return _import_page(request, admin, form, status_code=422)
    return _import_page(request, admin, result=result)


ADMIN_ROUTES = [
    admin_overview,
    admin_services,
    admin_add_service,
    admin_staff,
    admin_add_staff,
    admin_deactivate_staff,
    admin_import,
    admin_import_staff,
]
