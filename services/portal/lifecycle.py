"""The coordinator's tools on a log's page: set the BTI level with a sealed reason, hand the
baton over (and accept it), remove a participant, and close the log with a closing note.

Every form posts without JavaScript (answer: 303 to the page) and with htmx (answer: the
«lifecycle» block, or a full reload when the change touches the whole page). logg decides who
may do what; the page only offers what logg would allow.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.entry_bodies import EntryBody, LevelChangeBody, TextBody
from services.portal.errors import NO_ACCESS
from services.portal.form_actions import FormOutcome, NoKey, Refusal, run_form_action
from services.portal.forms import (
    FormState,
    check_closing_form,
    check_handover_form,
    check_level_form,
)
from services.portal.i18n import N_
from services.portal.logg_client import LoggClient, LoggError
from services.portal.rendering import is_htmx
from services.portal.routes import CurrentViewer, checked_stafettlogg_id, log_page, require_viewer
from services.portal.sealing import seal_entry, utc_timestamp
from services.portal.stafettlogger import NoEpochKeyError, StafettloggPage, StafettloggService
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
_NO_KEY = NoKey(
    NoEpochKeyError,
    N_("Du mangler nøkkelen som trengs for å skrive her. Be stafettholderen om hjelp."),
)
_TRY_AGAIN = N_("Det gikk ikke å lagre. Last inn siden og prøv igjen.")
_CLOSED = N_("Stafettloggen er avsluttet. Ingen kan endre den lenger.")


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


def _refusal(error: LoggError) -> Refusal:
    if error.status == 404:
        raise error
    if error.type.endswith("stafettlogg-closed"):
        return Refusal(_CLOSED, 403)
    if error.status == 403:
        return Refusal(NO_ACCESS, 403)
    if error.status == 409:
        return Refusal(
            N_("Noen andre endret stafettloggen samtidig. Last inn siden og prøv igjen."), 409
        )
    return Refusal(_TRY_AGAIN, 400)


def _refusal_on_conflict(conflict: str) -> Callable[[LoggError], Refusal]:
    """`_refusal`, with `conflict` as the message whenever logg answers 409."""

    def refusal(error: LoggError) -> Refusal:
        answer = _refusal(error)
        return Refusal(conflict, answer.status_code) if error.status == 409 else answer

    return refusal


async def _answer(
    request: _Req,
    state: State,
    viewer: Viewer,
    stafettlogg_id: str,
    *,
    form_name: str,
    outcome: FormOutcome,
    reload: bool = False,
    page: StafettloggPage | None = None,
) -> Response[Any]:
    """Success without htmx: 303 to the page. With htmx: the section (or a full reload when
    the change reaches the whole page). An error: the form again, with what was typed.
    `page`: the page as loaded before anything was written, to show as it is."""
    path = f"/stafettlogger/{stafettlogg_id}"
    if outcome.form.ok and outcome.status_code < 300:
        if not is_htmx(request):
            return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)
        if reload:
            return Response(content=b"", status_code=200, headers={"HX-Redirect": path})
    return await log_page(
        request,
        state,
        viewer,
        stafettlogg_id,
        forms={form_name: outcome.form},
        block=_BLOCK if is_htmx(request) else None,
        status_code=outcome.status_code,
        notice=outcome.notice,
        notice_for=_BLOCK,
        page=page,
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

    async def change() -> str:
        level = int(form.values["level"])
        await _service(state).change_level(
            viewer, stafettlogg_id, current, level, form.values["reason"]
        )
        return N_("Nivået er endret til %(level)s.", level=level)

    outcome = await run_form_action(form, change, refusal=_refusal, no_key=_NO_KEY)
    return await _answer(request, state, viewer, stafettlogg_id, form_name="level", outcome=outcome)


@post("/stafettlogger/{stafettlogg_id:str}/stafettpinnen", name="propose_handover")
async def propose_handover(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    page = await state.stafettlogger.page(viewer, stafettlogg_id)
    candidates = dict(page.lifecycle.handover_candidates)
    form = check_handover_form(await request.form(), set(candidates))

    async def propose() -> str:
        subject = form.values["to_subject"]
        await _service(state).propose_handover(
            viewer, stafettlogg_id, subject, form.values["handover_note"]
        )
        return N_("%(name)s er foreslått som ny stafettholder.", name=candidates[subject])

    def refusal(error: LoggError) -> Refusal:
        if error.status == 400:
            return Refusal(
                N_("Denne personen kan ikke være stafettholder. Velg en ansatt."), 422, "to_subject"
            )
        return _refusal(error)

    unchanged = page if not form.ok else None  # the form is refused before anything is written
    outcome = await run_form_action(form, propose, refusal=refusal, no_key=_NO_KEY)
    return await _answer(
        request,
        state,
        viewer,
        stafettlogg_id,
        form_name="handover",
        outcome=outcome,
        page=unchanged,
    )


@post("/stafettlogger/{stafettlogg_id:str}/stafettpinnen/ta-imot", name="accept_handover")
async def accept_handover(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    raw = (await request.form()).get("handover_id", "")
    form = FormState(values={"handover_id": raw if isinstance(raw, str) else ""})
    handover_id = form.values["handover_id"]
    if not handover_id or len(handover_id) > 64:
        form.errors["_form"] = N_("Forslaget finnes ikke lenger. Last inn siden.")

    async def accept() -> None:
        await _service(state).accept_handover(viewer, stafettlogg_id, handover_id)

    outcome = await run_form_action(
        form,
        accept,
        refusal=_refusal_on_conflict(N_("Forslaget er trukket tilbake eller erstattet.")),
    )
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="accept", outcome=outcome, reload=True
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
        form.errors["participant"] = N_("Velg deltakeren du vil fjerne.")
        return await _answer(
            request,
            state,
            viewer,
            stafettlogg_id,
            form_name="remove",
            outcome=FormOutcome(form, 422),
            page=page,
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
            page=page,
        )
    kind, principal_id = key.split(":", 1)

    async def remove() -> None:
        await _service(state).remove_participant(viewer, stafettlogg_id, kind, principal_id)

    outcome = await run_form_action(
        form,
        remove,
        refusal=_refusal_on_conflict(
            N_("Stafettholderen kan ikke fjernes. Gi stafettpinnen videre først.")
        ),
    )
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="remove", outcome=outcome, reload=True
    )


@post("/stafettlogger/{stafettlogg_id:str}/avslutt", name="close_stafettlogg")
async def close_stafettlogg(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    form = check_closing_form(await request.form())

    async def close() -> None:
        await _service(state).close(viewer, stafettlogg_id, form.values["closing_note"])

    outcome = await run_form_action(form, close, refusal=_refusal, no_key=_NO_KEY)
    return await _answer(
        request, state, viewer, stafettlogg_id, form_name="closing", outcome=outcome, reload=True
    )


LIFECYCLE_ROUTES = [
    change_level,
    propose_handover,
    accept_handover,
    remove_participant,
    close_stafettlogg,
]
