"""The coordinator's tools on a log's page: set the BTI level with a sealed reason, hand the
baton over (and accept it), remove a participant, and close the log with a closing note.

Every form posts without JavaScript (answer: 303 to the page) and with htmx (answer: the
«lifecycle» block, or a full reload when the change touches the whole page). logg decides who
may do what; the page only offers what logg would allow.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.entry_bodies import EntryBody, LevelChangeBody, TextBody
from services.portal.errors import NO_ACCESS
from services.portal.forms import (
    FormState,
    check_closing_form,
    check_handover_form,
    check_level_form,
)
from services.portal.logg_client import LoggClient, LoggError
from services.portal.rendering import is_htmx
from services.portal.routes import CurrentViewer, checked_stafettlogg_id, log_page, require_viewer
from services.portal.sealing import seal_entry, utc_timestamp
from services.portal.stafettlogger import NoEpochKeyError, StafettloggService
from services.portal.viewer import Viewer
from shared.crypto.envelope import SealedEnvelope
from shared.wire import (
    LEVEL_CHANGE_TYPE,
    ClosingRequest,
    HandoverAcceptance,
    LevelChangeRequest,
    NewHandover,
)

__all__ = ["LIFECYCLE_ROUTES", "LifecycleService"]

_Req = Request[Any, Any, Any]
_BLOCK = "lifecycle"
_NO_KEY = "Du mangler nøkkelen som trengs for å skrive her. Be stafettholderen om hjelp."
_TRY_AGAIN = "Det gikk ikke å lagre. Last inn siden og prøv igjen."
_CLOSED = "Stafettloggen er avsluttet. Ingen kan endre den lenger."


class LifecycleService:
    """Level, handover, removal and closing, sealed and sent to logg for one viewer."""

    def __init__(self, stafettlogger: StafettloggService) -> None:
        self._stafettlogger = stafettlogger

    @property
    def _logg(self) -> LoggClient:
        return self._stafettlogger.logg

    async def _seal(
        self, viewer: Viewer, stafettlogg_id: str, entry_type: str, body: EntryBody
    ) -> SealedEnvelope:
        view, epoch_key = await self._stafettlogger.current_epoch_key(viewer, stafettlogg_id)
        return seal_entry(
            view.id,
            secrets.token_urlsafe(16),
            entry_type,
            body,
            epoch=view.current_epoch,
            epoch_key=epoch_key,
            author=viewer.subject,
            author_keys=viewer.keys,
            created_at=utc_timestamp(),
        )

    async def change_level(
        self, viewer: Viewer, stafettlogg_id: str, from_level: int, to_level: int, reason: str
    ) -> None:
        """Set the level; the reason is sealed as a `level_change` entry (never plaintext).
        `from_level` is the level the viewer saw; logg refuses (409) if it moved meanwhile."""
        body = LevelChangeBody(from_level=from_level, to_level=to_level, reason=reason)

        async def attempt() -> None:
            sealed = await self._seal(viewer, stafettlogg_id, LEVEL_CHANGE_TYPE, body)
            token = await self._stafettlogger.logg_token(viewer)
            await self._logg.change_level(
                token, stafettlogg_id, LevelChangeRequest(level=to_level, reason=sealed)
            )

        await self._stafettlogger.epochs.write(viewer, stafettlogg_id, attempt)

    async def propose_handover(
        self, viewer: Viewer, stafettlogg_id: str, to_subject: str, note: str
    ) -> None:
        """Propose the next coordinator; a note to them is written first as a sealed entry."""
        if note:
            await self._stafettlogger.write_entry(
                viewer, stafettlogg_id, "handover", TextBody(text=note)
            )
        token = await self._stafettlogger.logg_token(viewer)
        await self._logg.propose_handover(
            token, stafettlogg_id, NewHandover(id=secrets.token_urlsafe(16), to_subject=to_subject)
        )

    async def accept_handover(self, viewer: Viewer, stafettlogg_id: str, handover_id: str) -> None:
        token = await self._stafettlogger.logg_token(viewer)
        await self._logg.accept_handover(
            token, stafettlogg_id, HandoverAcceptance(handover_id=handover_id)
        )

    async def remove_participant(
        self, viewer: Viewer, stafettlogg_id: str, kind: str, principal_id: str
    ) -> None:
        """Remove a participant, then start the next key epoch for those who remain (logg has
        deleted the leaver's grants and refuses entries until then)."""
        token = await self._stafettlogger.logg_token(viewer)
        await self._logg.remove_participant(token, stafettlogg_id, kind, principal_id)
        await self._stafettlogger.epochs.rotate_if_due(viewer, stafettlogg_id)

    async def close(self, viewer: Viewer, stafettlogg_id: str, note: str) -> None:
        """Close the log with its closing note, sealed in the same request."""

        async def attempt() -> None:
            sealed = await self._seal(viewer, stafettlogg_id, "closing_note", TextBody(text=note))
            token = await self._stafettlogger.logg_token(viewer)
            await self._logg.close_stafettlogg(
                token, stafettlogg_id, ClosingRequest(closing_note=sealed)
            )

        await self._stafettlogger.epochs.write(viewer, stafettlogg_id, attempt)


def _service(state: State) -> LifecycleService:
    return LifecycleService(state.stafettlogger)


def _refusal(error: LoggError) -> tuple[str, int]:
    if error.status == 404:
        raise error
    if error.type.endswith("stafettlogg-closed"):
        return _CLOSED, 403
    if error.status == 403:
        return NO_ACCESS, 403
    if error.status == 409:
        return "Noen andre endret stafettloggen samtidig. Last inn siden og prøv igjen.", 409
    return _TRY_AGAIN, 400


async def _answer(
    request: _Req,
    state: State,
    viewer: Viewer,
    stafettlogg_id: str,
    *,
    form_name: str,
    form: FormState,
    status_code: int,
    notice: str | None = None,
    reload: bool = False,
) -> Response[Any]:
    """Success without htmx: 303 to the page. With htmx: the section (or a full reload when
    the change reaches the whole page). An error: the form again, with what was typed."""
    path = f"/stafettlogger/{stafettlogg_id}"
    if form.ok and status_code < 300:
        if not is_htmx(request):
            return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)
        if reload:
            return Response(content=b"", status_code=200, headers={"HX-Redirect": path})
    return await log_page(
        request,
        state,
        viewer,
        stafettlogg_id,
        forms={form_name: form},
        block=_BLOCK if is_htmx(request) else None,
        status_code=status_code,
        notice=notice,
        notice_for=_BLOCK,
    )


async def _current_level(state: State, viewer: Viewer, stafettlogg_id: str) -> int:
    service: StafettloggService = state.stafettlogger
    return (await service.view(viewer, stafettlogg_id)).level


@post("/stafettlogger/{stafettlogg_id:str}/niva", name="change_level")
async def change_level(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    current = await _current_level(state, viewer, stafettlogg_id)
    form = check_level_form(await request.form(), current)
    status_code, notice = 422, None
    if form.ok:
        level = int(form.values["level"])
        try:
            await _service(state).change_level(
                viewer, stafettlogg_id, current, level, form.values["reason"]
            )
            status_code, notice = 200, f"Nivået er endret til {level}."
            form = FormState()
        except NoEpochKeyError:
            form.errors["_form"], status_code = _NO_KEY, 409
        except LoggError as error:
            form.errors["_form"], status_code = _refusal(error)
    return await _answer(
        request,
        state,
        viewer,
        stafettlogg_id,
        form_name="level",
        form=form,
        status_code=status_code,
        notice=notice,
    )


@post("/stafettlogger/{stafettlogg_id:str}/stafettpinnen", name="propose_handover")
async def propose_handover(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    page = await state.stafettlogger.page(viewer, stafettlogg_id)
    candidates = dict(page.lifecycle.handover_candidates)
    form = check_handover_form(await request.form(), set(candidates))
    status_code, notice = 422, None
    if form.ok:
        subject = form.values["to_subject"]
        try:
            await _service(state).propose_handover(
                viewer, stafettlogg_id, subject, form.values["handover_note"]
            )
            status_code = 200
            notice = f"{candidates[subject]} er foreslått som ny stafettholder."
            form = FormState()
        except NoEpochKeyError:
            form.errors["_form"], status_code = _NO_KEY, 409
        except LoggError as error:
            if error.status == 400:
                form.errors["to_subject"], status_code = (
                    "Denne personen kan ikke være stafettholder. Velg en ansatt.",
                    422,
                )
            else:
                form.errors["_form"], status_code = _refusal(error)
    return await _answer(
        request,
        state,
        viewer,
        stafettlogg_id,
        form_name="handover",
        form=form,
        status_code=status_code,
        notice=notice,
    )


@post("/stafettlogger/{stafettlogg_id:str}/stafettpinnen/ta-imot", name="accept_handover")
async def accept_handover(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    raw = (await request.form()).get("handover_id", "")
    form = FormState(values={"handover_id": raw if isinstance(raw, str) else ""})
    status_code = 200
    if not form.values["handover_id"] or len(form.values["handover_id"]) > 64:
        form.errors["_form"], status_code = "Forslaget finnes ikke lenger. Last inn siden.", 422
    else:
        try:
            await _service(state).accept_handover(
                viewer, stafettlogg_id, form.values["handover_id"]
            )
        except LoggError as error:
            form.errors["_form"], status_code = _refusal(error)
            if error.status == 409:
                form.errors["_form"] = "Forslaget er trukket tilbake eller erstattet."
    return await _answer(
        request,
        state,
        viewer,
        stafettlogg_id,
        form_name="accept",
        form=form,
        status_code=status_code,
        reload=True,
    )


@post("/stafettlogger/{stafettlogg_id:str}/deltakere/fjern", name="remove_participant")
async def remove_participant(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    page = await state.stafettlogger.page(viewer, stafettlogg_id)
    removable = dict(page.lifecycle.removable)
    data = await request.form()
    raw_key, confirm = data.get("participant", ""), data.get("confirm", "")
    key = raw_key if isinstance(raw_key, str) else ""
    form = FormState(values={"participant": key})
    if key not in removable:
        form.errors["participant"] = "Velg deltakeren du vil fjerne."
        return await _answer(
            request,
            state,
            viewer,
            stafettlogg_id,
            form_name="remove",
            form=form,
            status_code=422,
        )
    if confirm != "ja":  # the confirm step: ask before anything changes
        form.values.update(confirm_step="ja", name=removable[key])
        return await log_page(
            request,
            state,
            viewer,
            stafettlogg_id,
            forms={"remove": form},
            block=_BLOCK if is_htmx(request) else None,
        )
    kind, principal_id = key.split(":", 1)
    status_code = 200
    try:
        await _service(state).remove_participant(viewer, stafettlogg_id, kind, principal_id)
    except LoggError as error:
        form.errors["_form"], status_code = _refusal(error)
        if error.status == 409:
            form.errors["_form"] = (
                "Stafettholderen kan ikke fjernes. Gi stafettpinnen videre først."
            )
    return await _answer(
        request,
        state,
        viewer,
        stafettlogg_id,
        form_name="remove",
        form=form,
        status_code=status_code,
        reload=True,
    )


@post("/stafettlogger/{stafettlogg_id:str}/avslutt", name="close_stafettlogg")
async def close_stafettlogg(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    form = check_closing_form(await request.form())
    status_code = 422
    if form.ok:
        try:
            await _service(state).close(viewer, stafettlogg_id, form.values["closing_note"])
            status_code = 200
        except NoEpochKeyError:
            form.errors["_form"], status_code = _NO_KEY, 409
        except LoggError as error:
            form.errors["_form"], status_code = _refusal(error)
    return await _answer(
        request,
        state,
        viewer,
        stafettlogg_id,
        form_name="closing",
        form=form,
        status_code=status_code,
        reload=True,
    )


LIFECYCLE_ROUTES = [
    change_level,
    propose_handover,
    accept_handover,
    remove_participant,
    close_stafettlogg,
]
