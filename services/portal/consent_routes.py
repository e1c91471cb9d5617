"""The consent forms on a log's page: a guardian gives, refuses or withdraws consent for a
service unit; the coordinator records consent (or its withdrawal) signed on paper, with a scan.

Thin handlers: check the form, call `ConsentService`, answer like the page's other forms
(303 to the page, or the `consent` block for htmx; 422 with what was typed on an error).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from services.portal.consent import ConsentService, MissingEpochKeyError
from services.portal.consent_forms import (
    MAX_SCAN,
    check_consent_form,
    check_paper_consent_form,
    read_scan,
)
from services.portal.errors import error_page
from services.portal.form_actions import FormOutcome, NoKey, Refusal, run_form_action
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.logg_client import LoggError
from services.portal.rendering import is_htmx
from services.portal.routes import (
    CurrentViewer,
    after_post,
    checked_stafettlogg_id,
    require_viewer,
)
from services.portal.stafettlogger import is_stafettlogg_id
from services.portal.viewer import Viewer

__all__ = ["CONSENT_ROUTES"]

_Req = Request[Any, Any, Any]
_BLOCK = "consent"
# A scan of at most 5 MiB and the form around it; a larger file (up to this) still gets a
# message in the form rather than an error page.
_MAX_UPLOAD = 2 * MAX_SCAN + 256 * 1024
_NO_KEY = NoKey(
    MissingEpochKeyError,
    N_(
        "Du mangler nøkkelen som trengs for å lagre skannet. "
        "Be den som la deg til i stafettloggen om å legge deg til på nytt."
    ),
)


def _consents(state: State) -> ConsentService:
    return ConsentService(state.auth, state.logg)


def _refusal(error: LoggError) -> Refusal:
    """What to say when logg refuses a consent request."""
    if error.status == 403:
        return Refusal(N_("Du har ikke lov til å gjøre dette i denne stafettloggen."), 403)
    if error.status == 409:
        return Refusal(
            N_(
                "Dette er allerede registrert, eller samtykket er endret i mellomtiden. "
                "Last siden på nytt for å se hva som gjelder nå."
            ),
            409,
        )
    if error.status == 404:
        return Refusal(N_("Vi fant ikke samtykket. Last siden på nytt og prøv igjen."), 404)
    if error.status == 413:
        return Refusal(N_("Skannet er for stort. Det kan være høyst 5 MB."), 413)
    return Refusal(N_("Det gikk ikke å lagre. Prøv igjen."), 400)


def _guardians_only(request: _Req) -> Response[Any]:
    return error_page(
        request,
        403,
        heading=N_("Bare foresatte kan gi eller trekke tilbake samtykke"),
        message=(
            N_(
                "Samtykke gis av foreldrene, eller av ungdommen selv. Har dere fått et samtykke "
                "på papir, kan stafettholderen registrere det."
            )
        ),
    )


def _coordinator_only(request: _Req) -> Response[Any]:
    return error_page(
        request,
        403,
        heading=N_("Bare stafettholderen kan registrere samtykke på papir"),
        message=N_("Gi skjemaet til stafettholderen, som registrerer det i stafettloggen."),
    )


def _checked_consent_id(consent_id: str) -> str:
    if not is_stafettlogg_id(consent_id):  # the same id shape as a log's
        raise NotFoundException
    return consent_id


async def _answer(
    request: _Req,
    state: State,
    viewer: Viewer,
    stafettlogg_id: str,
    *,
    form_name: str,
    outcome: FormOutcome,
) -> Response[Any]:
    response = await after_post(
        request, state, viewer, stafettlogg_id, _BLOCK, form_name=form_name, outcome=outcome
    )
    if outcome.form.ok and is_htmx(request):  # the participant list marks who awaits consent
        response.headers["HX-Trigger"] = "consent-changed"
    return response


@post("/stafettlogger/{stafettlogg_id:str}/samtykker", name="give_consent")
async def give_consent(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    if viewer.role != "guardian":
        return _guardians_only(request)
    consents = _consents(state)
    targets = await consents.targets(viewer, stafettlogg_id)
    form = check_consent_form(await request.form(), set(targets.services))

    async def give() -> str:
        name = targets.services[form.values["service_id"]]
        given = form.values["decision"] == "given"
        await consents.give(
            viewer,
            stafettlogg_id,
            consent_id=form.values["consent_id"],
            service_id=form.values["service_id"],
            decision="given" if given else "refused",
            last_day=date.fromisoformat(form.values["valid_until"]),
            scopes=[form.values["scope"]],
            history=form.values["history"] == "yes",
        )
        if given:
            return N_(
                "Du har gitt samtykke. "
                "De ansatte i %(name)s kan nå lese og skrive i stafettloggen.",
                name=name,
            )
        return N_("Du har avslått samtykke til %(name)s. Avslaget er lagret.", name=name)

    outcome = await run_form_action(form, give, refusal=_refusal)
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="consent", outcome=outcome
    )


@post(
    "/stafettlogger/{stafettlogg_id:str}/samtykker/{consent_id:str}/trekk-tilbake",
    name="withdraw_consent",
)
async def withdraw_consent(
    request: _Req,
    state: State,
    viewer: CurrentViewer,
    stafettlogg_id: FromPath[str],
    consent_id: FromPath[str],
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    consent_id = _checked_consent_id(consent_id)
    if viewer.role != "guardian":
        return _guardians_only(request)
    consents = _consents(state)
    targets = await consents.targets(viewer, stafettlogg_id)
    submitted = await request.form()
    service_id = submitted.get("service_id")
    form = FormState(values={"service_id": service_id if isinstance(service_id, str) else ""})

    async def withdraw() -> str:
        withdrawn = await consents.withdraw(viewer, stafettlogg_id, consent_id)
        name = targets.services.get(withdrawn.service_id, N_("tjenesten"))
        return N_(
            "Du har trukket tilbake samtykket. De ansatte i %(name)s kan ikke lenger lese "
            "eller skrive i stafettloggen.",
            name=name,
        )

    outcome = await run_form_action(form, withdraw, refusal=_refusal)
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="consent", outcome=outcome
    )


@post(
    "/stafettlogger/{stafettlogg_id:str}/samtykker/papir",
    name="record_paper_consent",
    request_max_body_size=_MAX_UPLOAD,
)
async def record_paper_consent(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    if not viewer.is_staff:
        return _coordinator_only(request)
    consents = _consents(state)
    targets = await consents.targets(viewer, stafettlogg_id)
    submitted = await request.form()
    form = check_paper_consent_form(submitted, set(targets.services), set(targets.givers))
    scan = await read_scan(submitted.get("scan"), form)  # None: a message in the form

    async def record() -> str:
        assert scan is not None
        given = form.values["decision"] == "given"
        await consents.record_paper(
            viewer,
            stafettlogg_id,
            consent_id=form.values["consent_id"],
            service_id=form.values["service_id"],
            decision="given" if given else "refused",
            given_by=form.values["given_by"],
            last_day=date.fromisoformat(form.values["valid_until"]),
            scopes=[form.values["scope"]],
            scan=scan,
            history=form.values["history"] == "yes",
        )
        name = targets.services[form.values["service_id"]]
        if given:
            return N_("Samtykket på papir er registrert for %(name)s.", name=name)
        return N_("Avslaget på papir er registrert for %(name)s.", name=name)

    outcome = await run_form_action(form, record, refusal=_refusal, no_key=_NO_KEY)
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="paper_consent", outcome=outcome
    )


@post(
    "/stafettlogger/{stafettlogg_id:str}/samtykker/{consent_id:str}/papir-tilbaketrekking",
    name="record_paper_withdrawal",
    request_max_body_size=_MAX_UPLOAD,
)
async def record_paper_withdrawal(
    request: _Req,
    state: State,
    viewer: CurrentViewer,
    stafettlogg_id: FromPath[str],
    consent_id: FromPath[str],
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    consent_id = _checked_consent_id(consent_id)
    if not viewer.is_staff:
        return _coordinator_only(request)
    consents = _consents(state)
    targets = await consents.targets(viewer, stafettlogg_id)
    submitted = await request.form()
    service_id = submitted.get("service_id")
    form = FormState(values={"service_id": service_id if isinstance(service_id, str) else ""})
    scan = await read_scan(submitted.get("scan"), form)  # None: a message in the form

    async def record() -> str:
        assert scan is not None
        withdrawn = await consents.record_paper_withdrawal(viewer, stafettlogg_id, consent_id, scan)
        name = targets.services.get(withdrawn.service_id, N_("tjenesten"))
        return N_(
            "Tilbaketrekkingen på papir er registrert. De ansatte i %(name)s kan ikke lenger "
            "lese eller skrive i stafettloggen.",
            name=name,
        )

    outcome = await run_form_action(form, record, refusal=_refusal, no_key=_NO_KEY)
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="paper_withdrawal", outcome=outcome
    )


CONSENT_ROUTES = [give_consent, withdraw_consent, record_paper_consent, record_paper_withdrawal]
