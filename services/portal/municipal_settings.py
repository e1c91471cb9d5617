"""The administrators' page for the municipality's settings: the age from which the young person
consents themself (15 or 16) and how many years a closed stafettlogg is kept.

auth keeps the settings and checks the admin claim again; the form works without JavaScript,
keeps what was typed when something is wrong (422) and carries CSRF.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State

from services.portal.admin import administrator_or_refusal, auth_of, not_admin_page
from services.portal.auth_client import AdminRefusedError, MunicipalSettings
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.rendering import is_htmx, render
from services.portal.routes import CurrentViewer
from services.portal.viewer import Viewer

__all__ = ["MUNICIPAL_SETTINGS_ROUTES", "check_municipal_settings_form"]

YOUTH_CONSENT_AGES = (15, 16)
MAX_RETENTION_YEARS = 100
_Req = Request[Any, Any, Any]


def check_municipal_settings_form(form: Mapping[str, object]) -> FormState:
    """`youth_consent_age` (15 or 16) and `retention_years` (1 to 100), each with a message."""

    def typed(name: str) -> str:
        value = form.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    state = FormState(
        values={
            "youth_consent_age": typed("youth_consent_age"),
            "retention_years": typed("retention_years"),
        }
    )
    if state.values["youth_consent_age"] not in {str(age) for age in YOUTH_CONSENT_AGES}:
        state.errors["youth_consent_age"] = N_("Velg 15 eller 16 år.")
    years = state.values["retention_years"]
    if not years.isdigit() or not 1 <= int(years) <= MAX_RETENTION_YEARS:
        state.errors["retention_years"] = N_("Skriv et helt antall år fra 1 til 100.")
    return state


async def _page(
    request: _Req,
    viewer: Viewer,
    current: MunicipalSettings,
    form: FormState | None = None,
    *,
    status_code: int = 200,
    notice: str | None = None,
) -> Response[Any]:
    values = {
        "youth_consent_age": str(current.youth_consent_age),
        "retention_years": str(current.retention_years),
    }
    return render(
        "admin_innstillinger.html",
        {
            "viewer": viewer,
            "form": form or FormState(values=values),
            "ages": YOUTH_CONSENT_AGES,
            "notice": notice,
        },
        block="municipal_settings" if is_htmx(request) else None,
        status_code=status_code,
    )


@get("/admin/innstillinger", name="municipal_settings")
async def municipal_settings_page(
    request: _Req, state: State, viewer: CurrentViewer
) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    current = await auth_of(state).municipal_settings(admin.session_cookie)
    return await _page(request, admin, current)


@post("/admin/innstillinger", name="change_municipal_settings")
async def change_municipal_settings(
    request: _Req, state: State, viewer: CurrentViewer
) -> Response[Any]:
    admin = administrator_or_refusal(request, viewer)
    if isinstance(admin, Response):
        return admin
    auth = auth_of(state)
    form = check_municipal_settings_form(await request.form())
    if not form.ok:
        current = await auth.municipal_settings(admin.session_cookie)
        return await _page(request, admin, current, form, status_code=422)
    try:
        changed = await auth.change_municipal_settings(
            admin.session_cookie,
            youth_consent_age=int(form.values["youth_consent_age"]),
            retention_years=int(form.values["retention_years"]),
        )
    except AdminRefusedError as error:
        if error.status == 403:
            return not_admin_page(request)
        raise
    return await _page(request, admin, changed, notice=N_("Innstillingene er lagret."))


MUNICIPAL_SETTINGS_ROUTES = [municipal_settings_page, change_municipal_settings]
