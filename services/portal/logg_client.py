"""Typed calls to the logg API (`shared.wire` structs over JSON), with a bearer token of
audience `stafett-logg` for the person the portal serves. logg's problem+json errors become
`LoggError`; an unreachable or failing logg becomes `LoggUnavailableError`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
import msgspec

from shared.wire import (
    AccessRecordPage,
    ClosingRequest,
    ConsentPage,
    ConsentView,
    DueMeasurePage,
    EntryPage,
    EntryView,
    EpochStatus,
    ErasureReport,
    ErasureRequest,
    HandoverAcceptance,
    HandoverView,
    LevelChangePage,
    LevelChangeRequest,
    LevelChangeView,
    NewConsent,
    NewEntry,
    NewEpoch,
    NewHandover,
    NewKeyGrants,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantView,
    StafettloggPage,
    StafettloggView,
    WithdrawalRequest,
)

__all__ = ["LoggClient", "LoggError", "LoggUnavailableError"]

_log = logging.getLogger("stafett.portal.logg_client")
_TIMEOUT = httpx.Timeout(10.0)
_T = TypeVar("_T")


class LoggUnavailableError(Exception):
    """logg did not answer, or answered with a server error or something unreadable."""


class _Problem(msgspec.Struct, frozen=True):
    type: str = "about:blank"
    title: str = ""
    detail: str | None = None


class _NoContent(msgspec.Struct, frozen=True):
    """What a 204 decodes to (`_call` reads an empty body as `{}`)."""


class LoggError(Exception):
    """logg refused the request (RFC 9457 problem details). `status` says why: 403 not a
    participant or not allowed, 404 unknown, 409 conflict, 400/422 invalid."""

    def __init__(self, status: int, type_: str, title: str, detail: str | None) -> None:
        super().__init__(f"logg answered {status} {type_}")
        self.status = status
        self.type = type_
        self.title = title
        self.detail = detail


class LoggClient:
    def __init__(self, http: httpx.AsyncClient, *, logg_url: str) -> None:
        self._http = http
        self._logg_url = logg_url.rstrip("/")

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        response_type: type[_T],
        *,
        body: msgspec.Struct | None = None,
        params: dict[str, Any] | None = None,
    ) -> _T:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method,
                f"{self._logg_url}{path}",
                headers=headers,
                content=content,
                params=params,
                timeout=_TIMEOUT,
            )
        except httpx.HTTPError as error:
            _log.warning("logg unreachable on %s: %s", method, type(error).__name__)
            raise LoggUnavailableError from error
        if response.status_code >= 500:
            _log.warning("logg answered %s on %s", response.status_code, method)
            raise LoggUnavailableError
        if response.status_code >= 400:
            try:
                problem = msgspec.json.decode(response.content, type=_Problem)
            except msgspec.DecodeError:
                problem = _Problem()
            raise LoggError(response.status_code, problem.type, problem.title, problem.detail)
        try:
            return msgspec.json.decode(response.content or b"{}", type=response_type)
        except msgspec.DecodeError as error:
            _log.error("logg sent a body the portal cannot read on %s", method)
            raise LoggUnavailableError from error

    async def create_stafettlogg(self, token: str, new: NewStafettlogg) -> StafettloggView:
        return await self._call("POST", "/stafettlogger", token, StafettloggView, body=new)

    async def list_stafettlogger(
        self, token: str, *, cursor: str | None = None, limit: int | None = None
    ) -> StafettloggPage:
        params: dict[str, Any] = {}
        if cursor:
            params["cursor"] = cursor
        if limit:
            params["limit"] = limit
        return await self._call("GET", "/stafettlogger", token, StafettloggPage, params=params)

    async def get_stafettlogg(self, token: str, stafettlogg_id: str) -> StafettloggView:
        return await self._call("GET", f"/stafettlogger/{stafettlogg_id}", token, StafettloggView)

    async def add_participant(
        self, token: str, stafettlogg_id: str, request: NewParticipantRequest
    ) -> ParticipantView:
        return await self._call(
            "POST",
            f"/stafettlogger/{stafettlogg_id}/participants",
            token,
            ParticipantView,
            body=request,
        )

    async def add_entry(self, token: str, stafettlogg_id: str, entry: NewEntry) -> EntryView:
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/entries", token, EntryView, body=entry
        )

    async def list_entries(
        self,
        token: str,
        stafettlogg_id: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        types: Sequence[str] = (),
        refers_to: Sequence[str] = (),
        ids: Sequence[str] = (),
    ) -> EntryPage:
        """A page of entries, newest first; each filter given narrows it: `types`, entries that
        refer to one of `refers_to`, entries among `ids` (at most MAX_ENTRY_FILTER_IDS each)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        for name, values in (("type", types), ("refers_to", refers_to), ("id", ids)):
            if values:
                params[name] = list(values)
        return await self._call(
            "GET", f"/stafettlogger/{stafettlogg_id}/entries", token, EntryPage, params=params
        )

    async def due_measures(
        self, token: str, *, limit: int = 20, cursor: str | None = None, days: int = 7
    ) -> DueMeasurePage:
        """Measures across the caller's logs due for evaluation within `days` or overdue, with
        no evaluation yet, earliest first, with the logs they are in (GET /tiltak/forfall)."""
        params: dict[str, Any] = {"limit": limit, "days": days}
        if cursor:
            params["cursor"] = cursor
        return await self._call("GET", "/tiltak/forfall", token, DueMeasurePage, params=params)

    async def healthy(self) -> bool:
        try:
            response = await self._http.get(f"{self._logg_url}/healthz", timeout=_TIMEOUT)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def list_consents(
        self, token: str, stafettlogg_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> ConsentPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self._call(
            "GET", f"/stafettlogger/{stafettlogg_id}/consents", token, ConsentPage, params=params
        )

    async def record_consent(
        self, token: str, stafettlogg_id: str, consent: NewConsent
    ) -> ConsentView:
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/consents", token, ConsentView, body=consent
        )

    async def withdraw_consent(
        self, token: str, stafettlogg_id: str, consent_id: str, request: WithdrawalRequest
    ) -> ConsentView:
        return await self._call(
            "POST",
            f"/stafettlogger/{stafettlogg_id}/consents/{consent_id}/withdraw",
            token,
            ConsentView,
            body=request,
        )

    async def list_access_records(
        self, token: str, stafettlogg_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> AccessRecordPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self._call(
            "GET",
            f"/stafettlogger/{stafettlogg_id}/access-records",
            token,
            AccessRecordPage,
            params=params,
        )

    async def change_level(
        self, token: str, stafettlogg_id: str, request: LevelChangeRequest
    ) -> LevelChangeView:
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/level", token, LevelChangeView, body=request
        )

    async def list_level_changes(
        self, token: str, stafettlogg_id: str, *, limit: int = 100
    ) -> LevelChangePage:
        return await self._call(
            "GET",
            f"/stafettlogger/{stafettlogg_id}/level-changes",
            token,
            LevelChangePage,
            params={"limit": limit},
        )

    async def propose_handover(
        self, token: str, stafettlogg_id: str, request: NewHandover
    ) -> HandoverView:
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/handover", token, HandoverView, body=request
        )

    async def accept_handover(
        self, token: str, stafettlogg_id: str, request: HandoverAcceptance
    ) -> HandoverView:
        return await self._call(
            "POST",
            f"/stafettlogger/{stafettlogg_id}/handover/accept",
            token,
            HandoverView,
            body=request,
        )

    async def close_stafettlogg(
        self, token: str, stafettlogg_id: str, request: ClosingRequest
    ) -> StafettloggView:
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/close", token, StafettloggView, body=request
        )

    async def remove_participant(
        self, token: str, stafettlogg_id: str, kind: str, principal_id: str
    ) -> None:
        """DELETE the participant; logg answers 204 with no body (also when already gone)."""
        path = f"/stafettlogger/{stafettlogg_id}/participants/{kind}/{principal_id}"
        await self._call("DELETE", path, token, _NoContent)

    async def epoch_status(self, token: str, stafettlogg_id: str) -> EpochStatus:
        """The log's key epoch, whether the next is due, and whom it must be wrapped for."""
        return await self._call(
            "GET", f"/stafettlogger/{stafettlogg_id}/epochs", token, EpochStatus
        )

    async def start_epoch(self, token: str, stafettlogg_id: str, epoch: NewEpoch) -> EpochStatus:
        """Start the next key epoch with grants for exactly the remaining participants."""
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/epochs", token, EpochStatus, body=epoch
        )

    async def grant_keys(
        self, token: str, stafettlogg_id: str, grants: NewKeyGrants
    ) -> EpochStatus:
        """Store epoch keys wrapped for one participant who holds none for them."""
        path = f"/stafettlogger/{stafettlogg_id}/key-grants"
        return await self._call("POST", path, token, EpochStatus, body=grants)

    async def erase_stafettlogg(
        self, token: str, stafettlogg_id: str, request: ErasureRequest
    ) -> ErasureReport:
        """Crypto-shred a closed log (a municipal administrator)."""
        return await self._call(
            "POST", f"/stafettlogger/{stafettlogg_id}/erasure", token, ErasureReport, body=request
        )

    async def erase_entry(
        self, token: str, stafettlogg_id: str, entry_id: str, request: ErasureRequest
    ) -> ErasureReport:
        """Crypto-shred one entry (a municipal administrator)."""
        path = f"/stafettlogger/{stafettlogg_id}/entries/{entry_id}/erasure"
        return await self._call("POST", path, token, ErasureReport, body=request)
