"""Answering a meeting invitation: «Jeg kommer» / «Jeg kommer ikke», with an optional comment.

The answer is an entry of type `meeting_response` that refers to the meeting, sealed and signed
like every entry (services.portal.meetings says how answers count). Without JavaScript the form
posts and the answer is a 303 back to the meeting on the log's page; with htmx the meeting's
answer section is swapped in place. A comment that is too long comes back with what was typed.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.entry_bodies import MeetingResponseBody
from services.portal.entry_form import EntryDraft
from services.portal.errors import NO_ACCESS, error_page
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.logg_client import LoggError
from services.portal.meetings import MEETING_RESPONSE, MeetingInvitation, attending
from services.portal.meetings import check_answer_form as check_form
from services.portal.rendering import is_htmx, render
from services.portal.routes import CurrentViewer, checked_stafettlogg_id, log_page, require_viewer
from services.portal.stafettlogger import NoEpochKeyError, StafettloggService, is_stafettlogg_id
from services.portal.viewer import Viewer

__all__ = ["MEETING_ROUTES", "answer_form_name"]

_Req = Request[Any, Any, Any]
_SAVED = N_("Svaret ditt er lagret.")
_NOT_SAVED = N_("Svaret ble ikke lagret. Prøv igjen.")
_NO_KEY = N_(
    "Du mangler nøkkelen som trengs for å skrive her. "
    "Be stafettholderen om å legge deg til på nytt."
)


def answer_form_name(meeting_id: str) -> str:
    """The name the answer form of one meeting has among the log page's forms."""
    return f"answer-{meeting_id}"


def _service(state: State) -> StafettloggService:
    service: StafettloggService = state.stafettlogger
    return service


def _cannot_answer(request: _Req) -> Response[Any]:
    return error_page(
        request,
        403,
        heading=N_("Du kan ikke svare på denne invitasjonen"),
        message=N_(
            "Bare de som er invitert, kan svare, og bare før møtet. "
            "Gå tilbake til stafettloggen for å se møtet."
        ),
    )


def _section(
    stafettlogg_id: str,
    invitation: MeetingInvitation,
    form: FormState,
    *,
    notice: str | None,
    status_code: int,
) -> Response[Any]:
    return render(
        "_meeting_answer.html",
        {
            "stafettlogg_id": stafettlogg_id,
            "invitation": invitation,
            "answer_form": form,
            "answer_notice": notice,
        },
        status_code=status_code,
    )


async def _save(
    service: StafettloggService,
    viewer: Viewer,
    stafettlogg_id: str,
    invitation: MeetingInvitation,
    form: FormState,
) -> int:
    """Write the answer; the status to answer with (200, or the refusal's, with a message in
    `form.errors`)."""
    assert invitation.viewer_key is not None
    body = MeetingResponseBody(
        meeting_id=invitation.meeting_id,
        invited_key=invitation.viewer_key,
        attending=attending(form),
        text=form.values["kommentar"],
    )
    draft = EntryDraft(MEETING_RESPONSE, body, invitation.meeting_id, None)
    try:
        await service.write_draft(viewer, stafettlogg_id, draft)
    except NoEpochKeyError:
        form.errors["_form"] = _NO_KEY
        return 409
    except LoggError as error:
        if error.status == 403:
            form.errors["_form"] = NO_ACCESS
            return 403
        form.errors["_form"] = _NOT_SAVED
        return 400
    return 200


@post("/stafettlogger/{stafettlogg_id:str}/moter/{meeting_id:str}/svar", name="answer_meeting")
async def answer_meeting(
    request: _Req,
    state: State,
    viewer: CurrentViewer,
    stafettlogg_id: FromPath[str],
    meeting_id: FromPath[str],
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    if not is_stafettlogg_id(meeting_id):  # an entry id has a log id's shape
        raise NotFoundException
    service = _service(state)
    invitation = await service.meeting(viewer, stafettlogg_id, meeting_id)
    if invitation is None:
        raise NotFoundException
    if not invitation.can_answer:
        return _cannot_answer(request)
    form = check_form(await request.form())
    status_code = await _save(service, viewer, stafettlogg_id, invitation, form) if form.ok else 422
    if form.ok and not is_htmx(request):
        return Redirect(
            path=f"/stafettlogger/{stafettlogg_id}#meeting-{meeting_id}",
            status_code=HTTP_303_SEE_OTHER,
        )
    if not is_htmx(request):  # the whole page, the meeting's form showing what was typed
        return await log_page(
            request,
            state,
            viewer,
            stafettlogg_id,
            forms={answer_form_name(meeting_id): form},
            status_code=status_code,
        )
    if form.ok:
        invitation = await service.meeting(viewer, stafettlogg_id, meeting_id) or invitation
        return _section(stafettlogg_id, invitation, FormState(), notice=_SAVED, status_code=200)
    return _section(stafettlogg_id, invitation, form, notice=None, status_code=status_code)


MEETING_ROUTES = [answer_meeting]
