"""The live stream of a stafettlogg: `GET /stafettlogger/{id}/events` (text/event-stream).

A reader (the portal, for the person looking at the log; or an integrating system) keeps it open
and hears `entry` events (the event's id and data are the new entry's id) as entries are stored,
then fetches the entries as usual. The stream carries ids only (services.logg.events).

Who may listen is decided where every decision is made: opening is `Action.READ_ENTRIES` through
`guard.authorize` (consent required, like reading entries) and leaves an access record. While it
is open the decision is taken again every `recheck_seconds` and at once when a participant is
removed or a consent withdrawn (an `access` event); those checks leave no record while they
allow (they are the same reading, continued) and a «denied» record when they refuse, and then
the stream sends `event: refused` and ends. It also ends when the caller's token expires: the
caller opens a new one with a fresh token, so the stream lives no longer than its token.

`Last-Event-ID` (the SSE reconnect header) names the newest entry the reader has: when the log
has a newer one, the stream says so at once, so nothing written while it was closed is missed.
Comments (`: ping`) every `heartbeat_seconds` keep proxies from closing an idle stream. Streams
are bounded per caller (a person with several tabs) and per instance (429 / 503).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from services.logg.access import Action, Policy
from services.logg.authentication import Caller
from services.logg.database import Database
from services.logg.events import EventBus, EventKind, Subscription
from services.logg.guard import authorize
from services.logg.models import EntryRow
from shared.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError
from shared.tokens import ServiceClaims

__all__ = ["EVENT_STREAM", "Live", "LiveStreams", "stream_events"]

_log = logging.getLogger("stafett.logg.streams")

EVENT_STREAM = "text/event-stream"
_PING = ServerSentEventMessage(data=None, comment="ping")


class LiveStreams:
    """The bus and the open streams of one logg instance, with their limits."""

    def __init__(
        self,
        bus: EventBus,
        *,
        recheck_seconds: float = 60.0,
        heartbeat_seconds: float = 15.0,
        max_streams: int = 1_000,
        max_per_caller: int = 8,
    ) -> None:
        self.bus = bus
        self.recheck_seconds = recheck_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.max_streams = max_streams
        self.max_per_caller = max_per_caller
        self._open: Counter[str] = Counter()

    @property
    def open_streams(self) -> int:
        return self._open.total()

    def check_room(self, caller: str) -> None:
        """Refuse a new stream: 429 when the caller has `max_per_caller` open, 503 when the
        instance has `max_streams` open."""
        if self._open[caller] >= self.max_per_caller:
            raise ProblemError(
                429,
                "too-many-streams",
                "Too many open event streams",
                f"Close one of your {self.max_per_caller} open streams first",
            )
        if self.open_streams >= self.max_streams:
            raise ProblemError(503, "streams-full", "No more event streams now; try again later")

    def reserve(self, caller: str) -> bool:
        """Count a stream that starts now; False (not counted) if there is no room after all
        (streams opened at the same moment)."""
        if self._open[caller] >= self.max_per_caller or self.open_streams >= self.max_streams:
            return False
        self._open[caller] += 1
        return True

    def release(self, caller: str) -> None:
        self._open[caller] -= 1
        if self._open[caller] <= 0:
            del self._open[caller]


Live = NamedDependency[LiveStreams]
Rules = NamedDependency[Policy]
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="last-event-id",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The newest entry id the reader has (SSE reconnect): a newer entry is "
        "announced as soon as the stream opens",
    ),
]
StafettloggId = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The stafettlogg's id",
    ),
]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )


@get(
    "/stafettlogger/{stafettlogg_id:str}/events",
    tags=["stafettlogger"],
    security=[{"BearerToken": []}],
    summary="Live events of a stafettlogg (text/event-stream): `entry` with the new entry's id; "
    "`refused` when access ends. Ends when the token expires; reconnect with Last-Event-ID",
    media_type=EVENT_STREAM,
    response_description="The event stream: `entry` events (id and data: the entry id), "
    "`refused` (data: why) before it ends, `: ping` comments while nothing happens",
    responses={
        400: _problem("The request is not valid (a malformed id or Last-Event-ID)"),
        401: _problem("No valid bearer token for stafett-logg"),
        403: _problem("Not allowed: not a participant, or no valid consent"),
        404: _problem("No such stafettlogg"),
        429: _problem("The caller has too many streams open"),
        503: _problem("This instance has too many streams open; try again later"),
    },
)
async def stream_events(
    caller: Caller,
    state: State,
    policy: Rules,
    live: Live,
    stafettlogg_id: StafettloggId,
    last_event_id: LastEventId = None,
) -> ServerSentEvent:
    """Open the stream: authorize (with an access record), then stream until the token expires
    or access ends. No database session is held while the stream is open."""
    database: Database = state.database
    live.check_room(caller.sub)
    async with database.sessions() as session:
        await authorize(session, caller, stafettlogg_id, Action.READ_ENTRIES, policy=policy)
        await session.commit()
    events = _events(live, database, caller, policy, stafettlogg_id, last_event_id)
    return ServerSentEvent(events, headers={"Cache-Control": "no-store"})


async def _newest_entry_id(database: Database, stafettlogg_id: str) -> str | None:
    """The id of the log's newest entry: one lookup at the end of the (log, seq) index."""
    statement = (
        select(EntryRow.id)
        .where(EntryRow.stafettlogg_id == stafettlogg_id)
        .order_by(EntryRow.seq.desc())
        .limit(1)
    )
    async with database.sessions() as session:
        return (await session.execute(statement)).scalar_one_or_none()


def _entry_message(entry_id: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="entry", id=entry_id, data=entry_id)


async def _events(
    live: LiveStreams,
    database: Database,
    caller: ServiceClaims,
    policy: Policy,
    stafettlogg_id: str,
    last_event_id: str | None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The stream itself. Everything it takes (its count, its subscription) is taken here,
    inside the `try` whose `finally` gives it back, however the stream ends."""
    if not live.reserve(caller.sub):
        return
    subscription: Subscription | None = None
    try:
        subscription = live.bus.subscribe(stafettlogg_id)
        # After subscribing: an entry stored since the caller last heard is either announced
        # here or arrives as an event; none falls in between.
        try:
            newest = await _newest_entry_id(database, stafettlogg_id)
        except SQLAlchemyError as error:
            _log.warning("could not open a stream: %s", type(error).__name__)
            return  # the caller reconnects
        yield _PING  # the headers and a first byte go out now: the reader knows it is open
        if newest is not None and newest != last_event_id:
            yield _entry_message(newest)
        next_check = time.monotonic() + live.recheck_seconds
        next_ping = time.monotonic() + live.heartbeat_seconds
        while True:
            left = caller.exp - time.time()
            if left <= 0:
                return  # the token has expired: the caller reconnects with a fresh one
            now = time.monotonic()
            check_now = now >= next_check
            if not check_now:
                if now >= next_ping:
                    yield _PING
                    next_ping = now + live.heartbeat_seconds
                    continue
                event = await subscription.next(min(left, next_check - now, next_ping - now))
                if event is None:
                    continue
                if event.kind is EventKind.ENTRY and event.entry_id is not None:
                    yield _entry_message(event.entry_id)
                    continue
                check_now = event.kind is EventKind.ACCESS
            if check_now:
                refusal = await _refusal(database, caller, stafettlogg_id, policy)
                if refusal is not None:
                    yield ServerSentEventMessage(event="refused", data=refusal)
                    return
                next_check = time.monotonic() + live.recheck_seconds
    finally:
        if subscription is not None:
            subscription.close()
        live.release(caller.sub)


async def _refusal(
    database: Database, caller: ServiceClaims, stafettlogg_id: str, policy: Policy
) -> str | None:
    """Decide again whether the caller may read the log: None while they may, else why not.
    An allowed check is rolled back (no record: the stream's opening recorded the reading); a
    refusal leaves its «denied» record (`authorize` commits it). Fails closed on a database
    error."""
    try:
        async with database.sessions() as session:
            try:
                await authorize(session, caller, stafettlogg_id, Action.READ_ENTRIES, policy=policy)
            except ProblemError as error:
                return error.slug
            await session.rollback()
    except SQLAlchemyError as error:
        _log.warning("could not check a stream's access again: %s", type(error).__name__)
        return "unavailable"
    return None
