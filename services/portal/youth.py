"""«Legg til ungdommen»: the coordinator of an open log adds the young person themself, from the
municipality's age (15 or 16), so that they read the log and give or withdraw consent.

The form sits on the log's page (templates/_youth_form.html). The age is checked again here at
the time of the request against the setting as auth says it now (fail closed: no setting, no
youth), and the fødselsnummer's date must be the child's birth date from the log's sealed
description. The person is then found through auth like a guardian and added with `youth`.
A fødselsnummer is never logged nor shown back but in the form it was typed into.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from services.portal.auth_client import AuthRefusedError
from services.portal.errors import NO_ACCESS
from services.portal.form_actions import FormRefusedError, NoKey, Refusal, run_form_action
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.logg_client import LoggError
from services.portal.norwegian import format_date
from services.portal.routes import CurrentViewer, after_post, checked_stafettlogg_id, require_viewer
from services.portal.stafettlogger import NoEpochKeyError, StafettloggService
from services.portal.youth_panel import YouthPanel, birth_date_in_pid

__all__ = ["YOUTH_ROUTES", "check_youth_form"]

FIELD = "youth_pid"
_Req = Request[Any, Any, Any]
_NO_KEY = NoKey(
    NoEpochKeyError,
    N_(
        "Du mangler nøkkelen som trengs for å skrive her. "
        "Be stafettholderen om å legge deg til på nytt."
    ),
)


def check_youth_form(form: Mapping[str, object]) -> FormState:
    """The young person's fødselsnummer: 11 digits (spaces allowed), kept as typed."""
    raw = form.get(FIELD, "")
    typed = raw.strip()[:32] if isinstance(raw, str) else ""
    state = FormState(values={FIELD: typed})
    digits = typed.replace(" ", "")
    if not digits:
        state.errors[FIELD] = N_("Skriv fødselsnummeret til ungdommen.")
    elif len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        state.errors[FIELD] = N_(
            "Et fødselsnummer har 11 siffer. Sjekk at du har skrevet det riktig."
        )
    return state


def _refused(message: str, status_code: int, field: str = FIELD) -> FormRefusedError:
    return FormRefusedError(Refusal(message, status_code, field))


def _check_panel(panel: YouthPanel | None, is_open: bool) -> YouthPanel:
    """The panel if the young person can be added now; otherwise a refusal that says why."""
    if not is_open:
        raise _refused(N_("Stafettloggen er avsluttet. Ingen kan legges til."), 409, "_form")
    if panel is None:
        raise _refused(N_("Bare stafettholderen kan legge til ungdommen."), 403, "_form")
    if panel.state == "present":
        raise _refused(N_("Ungdommen er allerede med i stafettloggen."), 409, "_form")
    if panel.state == "setting-unknown":
        raise _refused(
            N_(
                "Kommunens aldersgrense for ungdommens eget samtykke kunne ikke leses, "
                "så ungdommen kan ikke legges til nå. Prøv igjen senere."
            ),
            503,
            "_form",
        )
    if not panel.addable or panel.birth_date is None:
        raise _refused(panel.message or NO_ACCESS, 409, "_form")
    return panel


def _check_birth_date(pid: str, panel: YouthPanel) -> None:
    born = birth_date_in_pid(pid)
    if born is None:
        raise _refused(
            N_(
                "Datoen i fødselsnummeret er ikke en gyldig dato. "
                "Sjekk at du har skrevet det riktig."
            ),
            422,
        )
    if born != panel.birth_date:
        raise _refused(
            N_(
                "Fødselsnummeret passer ikke med barnets fødselsdato (%(day)s). "
                "Sjekk at det er ungdommens eget fødselsnummer.",
                day=format_date(panel.birth_date) if panel.birth_date else "",
            ),
            422,
        )


def _logg_refusal(error: LoggError) -> Refusal:
    if error.status == 403 and error.type.endswith("stafettlogg-closed"):
        return Refusal(N_("Stafettloggen er avsluttet. Ingen kan legges til."), 409)
    if error.status == 403:
        return Refusal(NO_ACCESS, 403)
    if error.status == 409 and error.type.endswith("youth-exists"):  # added meanwhile
        return Refusal(N_("Ungdommen er allerede med i stafettloggen."), 409, "_form")
    if error.status == 409:
        return Refusal(N_("Denne personen er allerede med i stafettloggen."), 409, FIELD)
    if error.status == 404:
        raise error
    return Refusal(N_("Det gikk ikke å lagre. Prøv igjen."), 400)


@post("/stafettlogger/{stafettlogg_id:str}/ungdom", name="add_youth")
async def add_youth(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    service: StafettloggService = state.stafettlogger
    form = check_youth_form(await request.form())

    async def add() -> str:
        pid = form.values[FIELD].replace(" ", "")
        state.auth.forget_municipal_settings()  # the age limit as auth says it now
        page = await service.page(viewer, stafettlogg_id)
        panel = _check_panel(page.youth, page.is_open)
        _check_birth_date(pid, panel)
        try:
            name = await service.add_guardian(viewer, stafettlogg_id, pid, youth=True)
        except AuthRefusedError as error:
            if error.status in {400, 404}:
                raise _refused(
                    N_("Fødselsnummeret er ikke gyldig. Sjekk at alle de 11 sifrene er riktige."),
                    422,
                ) from error
            raise _refused(N_("Bare ansatte kan legge til ungdommen."), 403, "_form") from error
        return N_("%(name)s er lagt til som ungdommen.", name=name)

    outcome = await run_form_action(form, add, refusal=_logg_refusal, no_key=_NO_KEY)
    return await after_post(
        request, state, viewer, stafettlogg_id, "participants", form_name="youth", outcome=outcome
    )


YOUTH_ROUTES = [add_youth]
