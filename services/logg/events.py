"""Live-update events: logg tells the streams open on a stafettlogg that something happened in it.

An event names the log and, for a new entry, the entry's id — nothing else: no author, no type,
nothing sealed. A participant who receives one learns only that the log has a new entry, which
the next page of entries would show them anyway (services.logg.streams decides who may listen).

Two kinds: `entry` (an entry was stored; streams pass it on) and `access` (a participant was
removed or a consent withdrawn; every stream on the log checks its caller's access again at once
instead of at its next periodic check). Neither is stored: delivery is best effort, and a reader
who missed one sees the entry on the next page load (a stream also says, when it opens, whether
the log has an entry newer than the one the reader names).

Transport (`EventBus`):

- In process by default: one logg instance (SQLite) delivers to its own streams.
- Redis pub/sub when logg's Redis is configured (STAFETT_LOGG_REPLAY_REDIS_URL): `publish`
  sends to one channel, and every instance delivers what it hears there to its own streams, its
  own events included, so any number of instances see every event.

`publish` never waits and never raises: it is called on the write path after the commit, and a
live update must cost a write nothing it can measure (in process: a dict lookup; with Redis: one
task that sends the message).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = [
    "DEFAULT_CHANNEL",
    "EventBus",
    "EventKind",
    "LogEvent",
    "Subscription",
]

_log = logging.getLogger("stafett.logg.events")

DEFAULT_CHANNEL = "stafett:logg:events"
_SUBSCRIPTION_CAPACITY = 16  # events a slow stream may have pending; older ones are dropped
_MAX_PENDING_PUBLISHES = 1_000  # Redis sends in flight; beyond this an event is dropped
_RETRY_FIRST, _RETRY_MAX = 0.5, 30.0  # seconds between attempts to (re)subscribe to Redis
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class EventKind(StrEnum):
    ENTRY = "entry"  # an entry was stored
    ACCESS = "access"  # someone's access may have ended: streams check again now


class LogEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What happened in which log: content-free by construction (ids only)."""

    kind: EventKind
    stafettlogg_id: _Id
    entry_id: _Id | None = None


class Subscription:
    """One stream's inbox for one log. Bounded: when a stream falls behind, the oldest pending
    events are dropped (each only says «something new»; the newest is what the reader needs)."""

    def __init__(self, bus: EventBus, stafettlogg_id: str, capacity: int) -> None:
        self.stafettlogg_id = stafettlogg_id
        self._bus = bus
        self._pending: deque[LogEvent] = deque(maxlen=capacity)
        self._ready = asyncio.Event()

    def deliver(self, event: LogEvent) -> None:
        self._pending.append(event)
        self._ready.set()

    async def next(self, within: float) -> LogEvent | None:
        """The next event, or None when none came within `within` seconds."""
        if not self._pending:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=max(within, 0.0))
            except TimeoutError:
                return None
        return self._pending.popleft() if self._pending else None

    def close(self) -> None:
        """Stop receiving events (a stream calls it when it ends, however it ends)."""
        self._bus.unsubscribe(self)


class EventBus:
    """Fans events out to the subscriptions of their log; see the module docstring.

    `attach_redis` (in the app's lifespan) switches `publish` from in-process delivery to the
    Redis channel and starts the listener that delivers what the channel carries; `close` stops
    it. Without Redis, nothing here does I/O."""

    def __init__(
        self, *, channel: str = DEFAULT_CHANNEL, capacity: int = _SUBSCRIPTION_CAPACITY
    ) -> None:
        self._channel = channel
        self._capacity = capacity
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._sending: set[asyncio.Task[Any]] = set()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(LogEvent)

    # --- subscribing ----------------------------------------------------------------------

    def subscribe(self, stafettlogg_id: str) -> Subscription:
        subscription = Subscription(self, stafettlogg_id, self._capacity)
        self._subscriptions.setdefault(stafettlogg_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.stafettlogg_id)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._subscriptions[subscription.stafettlogg_id]

    def subscribers(self, stafettlogg_id: str) -> int:
        """How many streams of this instance listen to the log (for tests and metrics)."""
        return len(self._subscriptions.get(stafettlogg_id, ()))

    # --- publishing -----------------------------------------------------------------------

    def publish_entry(self, stafettlogg_id: str, entry_id: str) -> None:
        """An entry was stored (call after the commit). Never waits, never raises."""
        self.publish(LogEvent(EventKind.ENTRY, stafettlogg_id, entry_id))

    def publish_access_change(self, stafettlogg_id: str) -> None:
        """Someone's access to the log may have ended (call after the commit)."""
        self.publish(LogEvent(EventKind.ACCESS, stafettlogg_id))

    def publish(self, event: LogEvent) -> None:
        if self._redis is None:
            self._deliver(event)
            return
        if len(self._sending) >= _MAX_PENDING_PUBLISHES:
            _log.warning("too many live-update events in flight to Redis; one was dropped")
            return
        self._spawn(self._send(self._redis, event))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._sending.add(task)  # keep a reference until it is done (asyncio holds weak ones)
        task.add_done_callback(self._sending.discard)

    async def _send(self, redis: Redis, event: LogEvent) -> None:
        try:
            await redis.publish(self._channel, self._encoder.encode(event))
        except (RedisError, OSError) as error:
            _log.warning("a live-update event could not be sent: %s", type(error).__name__)

    def _deliver(self, event: LogEvent) -> None:
        for subscription in tuple(self._subscriptions.get(event.stafettlogg_id, ())):
            subscription.deliver(event)

    # --- Redis ----------------------------------------------------------------------------

    def attach_redis(self, redis: Redis) -> None:
        """Publish through Redis from now on, and start delivering what the channel carries."""
        self._redis = redis
        self._listener = asyncio.get_running_loop().create_task(self._listen(redis))

    @property
    def listening(self) -> bool:
        """Whether the Redis listener is subscribed now."""
        return self._listening.is_set()

    async def wait_listening(self, within: float = 5.0) -> None:
        """Return once the Redis listener is subscribed (tests: before publishing elsewhere)."""
        await asyncio.wait_for(self._listening.wait(), timeout=within)

    async def _listen(self, redis: Redis) -> None:
        delay = _RETRY_FIRST
        while True:
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._listening.set()
                    delay = _RETRY_FIRST
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._heard(message.get("data"))
            except (RedisError, OSError) as error:
                _log.warning(
                    "the live-update channel is unavailable (%s); retrying in %.1f s",
                    type(error).__name__,
                    delay,
                )
            self._listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _heard(self, data: object) -> None:
        if not isinstance(data, bytes):
            return
        try:
            event = self._decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            _log.warning("ignored a malformed message on the live-update channel")
            return
        self._deliver(event)

    async def close(self) -> None:
        """Stop the listener and wait for the sends in flight (at shutdown)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        if self._sending:
            await asyncio.gather(*tuple(self._sending), return_exceptions=True)
        self._redis = None
        self._listening.clear()
