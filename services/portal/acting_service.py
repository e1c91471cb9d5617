"""«Velg tjeneste»: which service unit a staff member who works for several acts for.

The choices come from auth's session context (`Viewer.services`); auth checks the choice again
(membership, an active unit) and seals that unit's keys into the session. The form carries
CSRF and works without JavaScript (303 to the front page, which then lists the logs the chosen
unit takes part in); with htmx the answer is an `HX-Redirect` there.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.auth_client import AuthClient, AuthRefusedError
from services.portal.errors import error_page
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.rendering import is_htmx, render
from services.portal.viewer import NotLoggedInError, Viewer

__all__ = ["ACTING_SERVICE_ROUTES", "act_for_service", "acting_service_page"]

_Req = Request[Any, Any, Any]
_CurrentViewer: TypeAlias = NamedDependency[Viewer | None]  # as routes.CurrentViewer
_CHOOSE = N_("Velg en av tjenestene i listen.")
_REFUSED = N_(
    "Du kan ikke handle for denne tjenesten lenger. Den kan være deaktivert, eller du er "
    "ikke registrert der nå. Velg en annen, eller ta kontakt med administratoren i kommunen."
)


def _staff(request: _Req, viewer: Viewer | None) -> Viewer | Response[Any]:
    if viewer is None:
        raise NotLoggedInError
    if not viewer.is_staff:
        return error_page(
            request,
            403,
            heading=N_("Bare ansatte handler for en tjeneste"),
            message=N_("Som foresatt ser du stafettloggene til barnet ditt fra forsiden."),
        )
    return viewer


def _page(viewer: Viewer, form: FormState, status_code: int = 200) -> Response[Any]:
    return render(
        "acting_service.html",
        {"viewer": viewer, "form": form, "choosing_service": True},
        status_code=status_code,
    )


@get("/tjeneste", name="acting_service")
async def acting_service_page(request: _Req, viewer: _CurrentViewer) -> Response[Any]:
    """The units the staff member may act for, the current one chosen."""
    staff = _staff(request, viewer)
    if isinstance(staff, Response):
        return staff
    return _page(staff, FormState(values={"service_id": staff.service_id or ""}))


@post("/tjeneste", name="act_for_service")
async def act_for_service(request: _Req, state: State, viewer: _CurrentViewer) -> Response[Any]:
    """Act for the chosen unit. Only the units in the session context are offered; auth decides
    (403 here, with the page again, if it refuses)."""
    staff = _staff(request, viewer)
    if isinstance(staff, Response):
        return staff
    raw = (await request.form()).get("service_id")
    service_id = raw if isinstance(raw, str) else ""
    form = FormState(values={"service_id": service_id})
    if service_id not in {unit.id for unit in staff.services}:
        form.errors["service_id"] = _CHOOSE
        return _page(staff, form, 422)
    auth: AuthClient = state.auth
    try:
        context = await auth.act_for_service(staff.session_cookie, service_id)
    except AuthRefusedError:
        form.errors["service_id"] = _REFUSED
        return _page(staff, form, 403)
    if context.service is None or context.service.id != service_id:
        form.errors["service_id"] = _REFUSED  # auth answered for another unit: never trust it
        return _page(staff, form, 403)
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": "/"})
    return Redirect(path="/", status_code=HTTP_303_SEE_OTHER)


ACTING_SERVICE_ROUTES = [acting_service_page, act_for_service]
