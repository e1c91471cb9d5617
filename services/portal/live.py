"""Live updates on the log's page: a new entry appears without a reload.

The page (stafettlogg.html) connects with htmx's SSE extension to `GET /stafettlogger/{id}/
hendelser`. That route opens logg's stream of the log (services.logg.streams) with a service
token for the person (the same token exchange as every call) and passes on only what the browser
needs: `entry` (with the new entry's id), heartbeats, and `stopp` when access has ended or the
session is gone (the page's `sse-close="stopp"` then closes the connection for good). On
`entry` the timeline fetches `GET /stafettlogger/{id}/tidslinje` through htmx, a normal request
that opens the entries with the person's keys for that request only, and swaps itself; a screen
reader hears «Ny oppføring» from the page's polite status region (not for the person's own
entry: their page has just said it was saved).

So the long-lived stream holds no plaintext and no key: it never loads the person's keys (only
the session cookie, to get a token), and the entries are opened in the short request, as on any
page load. Without JavaScript nothing here runs; a reload shows the new entries.

A logg stream ends when its token expires (at most five minutes); this route then ends too and
the browser reconnects after `RECONNECT_MS`, sending the id of the last entry it heard
(`Last-Event-ID`), so logg can say at once whether something came in between. Before the first
event the page's `siste` (the newest entry it shows) plays that part.

The extension is `services/portal/static/htmx-ext-sse.min.js`: `dist/sse.min.js` of the npm
package htmx-ext-sse 2.2.4 (for htmx 2.0.x; we serve htmx 2.0.11), byte for byte (`npm pack
htmx-ext-sse@2.2.4`; sha256 98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136),
licence 0BSD.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from services.portal.auth_client import (
    AUDIENCE_LOGG,
    AuthClient,
    AuthUnavailableError,
    SessionExpiredError,
)
from services.portal.logg_client import LoggUnavailableError
from services.portal.rendering import render
from services.portal.routes import CurrentViewer, checked_stafettlogg_id, require_viewer
from services.portal.stafettlogger import StafettloggPage, StafettloggService
from services.portal.viewer import Viewer

__all__ = [
    "LIVE_ROUTES",
    "MAX_STREAMS",
    "RECONNECT_MS",
    "LiveRelay",
    "live_events",
    "live_relay",
    "live_timeline",
]

_log = logging.getLogger("stafett.portal.live")

RECONNECT_MS = 3_000  # the browser reconnects this long after a stream ends
_BUSY_RETRY_MS = 30_000  # after a failure, or logg said «too many streams» or «try later»
MAX_STREAMS = 500  # open streams per portal instance
# logg sends a heartbeat every 15 s: a minute of silence means the stream is dead.
_STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=5.0, pool=5.0)
_MAX_LINE = 1_024
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STOP = ServerSentEventMessage(event="stopp", data="")
_PING = ServerSentEventMessage(data=None, comment="ping")
_TRY_LATER = ServerSentEventMessage(data=None, retry=_BUSY_RETRY_MS)  # the browser waits longer
_Req = Request[Any, Any, Any]


class LiveRelay:
    """Relays logg's event streams to browsers. It has its own httpx client, so that open
    streams never take the connections of the portal's ordinary calls to logg, and a cap on
    the streams it holds open at once (`max_streams`)."""

    def __init__(self, http: httpx.AsyncClient, *, logg_url: str, max_streams: int) -> None:
        self._http = http
        self._logg_url = logg_url.rstrip("/")
        self._max_streams = max_streams
        self.open_streams = 0

    async def relay(
        self, auth: AuthClient, session_cookie: str | None, stafettlogg_id: str, newest: str | None
    ) -> AsyncIterator[ServerSentEventMessage]:
        """The browser's stream: see the module docstring. Never raises to the browser: a
        refusal is `stopp`; a failure ends the stream and the browser tries again later."""
        yield ServerSentEventMessage(data=None, retry=RECONNECT_MS)
        if not session_cookie or len(session_cookie) > 4096:
            yield _STOP
            return
        if self.open_streams >= self._max_streams:
            yield _TRY_LATER
            return
        self.open_streams += 1
        try:
            try:
                token = await auth.access_token(session_cookie, AUDIENCE_LOGG)
            except SessionExpiredError:
                yield _STOP
                return
            except AuthUnavailableError:
                yield _TRY_LATER
                return
            async with aclosing(self._from_logg(token, stafettlogg_id, newest)) as messages:
                async for message in messages:
                    yield message
        finally:
            self.open_streams -= 1

    async def _from_logg(
        self, token: str, stafettlogg_id: str, newest: str | None
    ) -> AsyncGenerator[ServerSentEventMessage, None]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if newest is not None:
            headers["Last-Event-ID"] = newest
        url = f"{self._logg_url}/stafettlogger/{stafettlogg_id}/events"
        try:
            async with self._http.stream(
                "GET", url, headers=headers, timeout=_STREAM_TIMEOUT
            ) as response:
                if response.status_code in {401, 403, 404}:
                    yield _STOP
                    return
                media_type = response.headers.get("content-type", "")
                if response.status_code != 200 or not media_type.startswith("text/event-stream"):
                    if response.status_code not in {429, 503}:
                        _log.warning("logg answered %s to an event stream", response.status_code)
                    yield _TRY_LATER
                    return
                async for event, entry_id in _logg_events(response.aiter_lines()):
                    if event == "entry" and entry_id is not None:
                        yield ServerSentEventMessage(event="entry", id=entry_id, data=entry_id)
                    elif event == "refused":
                        yield _STOP
                        return
                    elif event == "":
                        yield _PING
        except httpx.HTTPError as error:
            _log.info("an event stream from logg ended: %s", type(error).__name__)
            yield _TRY_LATER


async def _logg_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str | None]]:
    """(event, entry id) for each message of logg's stream; ("", None) for a heartbeat. Only
    what the portal passes on is read: the event name and an id of the expected form."""
    event, entry_id, seen = "", None, False
    async for line in lines:
        if len(line) > _MAX_LINE:
            continue
        if line == "":
            if seen:
                yield event, entry_id
            event, entry_id, seen = "", None, False
            continue
        seen = True
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "id":
            entry_id = value if _ID.fullmatch(value) else None


def live_relay(
    logg_transport: httpx.AsyncBaseTransport | None = None, *, max_streams: int = MAX_STREAMS
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The app's lifespan part that opens the relay's client (`app.state.live`)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=max_streams, max_keepalive_connections=0)
        async with httpx.AsyncClient(transport=logg_transport, limits=limits) as http:
            app.state.live = LiveRelay(
                http, logg_url=app.state.settings.logg_url, max_streams=max_streams
            )
            yield

    return lifespan


def _newest_shown(request: _Req) -> str | None:
    """The newest entry the page has: the SSE reconnect header, else the page's `siste`."""
    value = request.headers.get("last-event-id") or request.query_params.get("siste") or ""
    return value if _ID.fullmatch(value) else None


@get("/stafettlogger/{stafettlogg_id:str}/hendelser", name="live_events")
async def live_events(
    request: _Req, state: State, stafettlogg_id: FromPath[str]
) -> ServerSentEvent:
    """The log's live events for the browser (text/event-stream). It reads only the session
    cookie: the person's keys are never loaded here."""
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    relay: LiveRelay = state.live
    cookie = request.cookies.get(state.settings.session_cookie_name)
    events = relay.relay(state.auth, cookie, stafettlogg_id, _newest_shown(request))
    return ServerSentEvent(events, headers={"Cache-Control": "no-store"})


@get("/stafettlogger/{stafettlogg_id:str}/tidslinje", name="live_timeline")
async def live_timeline(
    request: _Req, state: State, viewer: CurrentViewer, stafettlogg_id: FromPath[str]
) -> Response[Any]:
    """The timeline, newest entries first, when it has an entry newer than `siste` (the one the
    page shows); 204 (htmx leaves the page alone) when it has not, or when logg or auth cannot
    answer now — a failed live update must not replace a page someone is writing on."""
    viewer = require_viewer(viewer)
    stafettlogg_id = checked_stafettlogg_id(stafettlogg_id)
    service: StafettloggService = state.stafettlogger
    try:
        page = await service.page(viewer, stafettlogg_id)
    except (LoggUnavailableError, AuthUnavailableError):
        return Response(content=b"", status_code=204)
    shown = request.query_params.get("siste")
    newest = page.entries[0].id if page.entries else None
    if newest is None or newest == shown:
        return Response(content=b"", status_code=204)
    return render(
        "stafettlogg.html",
        {
            "viewer": viewer,
            "page": page,
            "cursor": None,
            "live": _by_someone_else(page, viewer, shown),
        },
        block="timeline",
    )


def _by_someone_else(page: StafettloggPage, viewer: Viewer, shown: str | None) -> bool:
    """Whether an entry newer than `shown` was written by someone other than the viewer: only
    then is «Ny oppføring» said (the writer's own page has just said «Oppføringen er lagret»)."""
    for line in page.entries:
        if line.id == shown:
            return False
        opened = page.index.by_id.get(line.id)
        if opened is None or opened.author != viewer.subject:
            return True
    return False


LIVE_ROUTES = [live_events, live_timeline]
