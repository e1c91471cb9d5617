"""Live updates: the event stream of a stafettlogg (services.logg.streams) and the bus behind it
(services.logg.events), in process and over Redis.

Litestar's test client returns a response once the app has sent all of it, so each stream here
runs in a thread with a short-lived token (a stream ends when its token expires) while the test
writes; the test then reads everything the stream sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from redis.asyncio import Redis

from services.logg.app import create_app
from services.logg.events import EventBus, EventKind, LogEvent
from services.logg.settings import Settings
from services.logg.streams import LiveStreams
from shared.wire import LevelChangeRequest, NewConsent, WithdrawalRequest
from tests.auth.redis_fixtures import RedisTarget, redis_target
from tests.logg.helpers import Actor, LoggApi, TokenMinter, consent_body, entry_body, new_id, seal

__all__ = ["redis_target"]  # the fixture, imported for pytest

_SECRET_TEXT = b"Hemmelig tekst om barnet som aldri skal i en hendelse"


def _parse(body: str) -> list[dict[str, str]]:
    """The stream's messages as field -> value (comments under ":")."""
    messages = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        messages.append(fields)
    return messages


def _entry_events(body: str) -> list[dict[str, str]]:
    return [message for message in _parse(body) if message.get("event") == "entry"]


@pytest.fixture
def live(client: TestClient[Litestar]) -> LiveStreams:
    streams: LiveStreams = client.app.state.live
    return streams


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def _open_stream(
    pool: ThreadPoolExecutor,
    api: LoggApi,
    log_id: str,
    actor: Actor,
    *,
    seconds: int = 3,
    last_event_id: str | None = None,
) -> Future[Any]:
    """Open the log's stream as `actor` with a token valid for `seconds`, in a thread; the
    future's result is the whole response once the stream has ended."""
    headers = api.minter.headers(actor, exp=int(time.time()) + seconds)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return pool.submit(api.client.get, f"/stafettlogger/{log_id}/events", headers=headers)


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _write(api: LoggApi, log_id: str, key: bytes, author: Actor) -> str:
    body = entry_body(author, log_id, key, plaintext=_SECRET_TEXT)
    response = api.post(f"/stafettlogger/{log_id}/entries", body, author)
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["id"]
    return entry_id


def _actions(api: LoggApi, log_id: str, coordinator: Actor, subject: str) -> list[tuple[str, str]]:
    records = api.get(f"/stafettlogger/{log_id}/access-records", coordinator).json()["items"]
    return [(r["action"], r["decision"]) for r in records if r["subject"] == subject]


def _log_with_a_service(api: LoggApi) -> tuple[str, Actor, Actor, Actor]:
    """A log made by a coordinator, with a guardian and the school's service unit as writers;
    returns its id, the coordinator, the guardian and the school (no consent yet)."""
    coordinator, guardian, school = Actor.staff(), Actor.guardian(), Actor.staff()
    log_id, _ = api.create(
        coordinator, [(guardian, "person", "writer"), (school, "service", "writer")]
    )
    return log_id, coordinator, guardian, school


def _give_consent(
    api: LoggApi, log_id: str, guardian: Actor, school: Actor, valid_until: datetime | None = None
) -> NewConsent:
    """The guardian's consent for the school's service unit, stored (201)."""
    assert school.service is not None
    consent = consent_body(school.service, valid_until=valid_until)
    assert api.post(f"/stafettlogger/{log_id}/consents", consent, guardian).status_code == 201
    return consent


def test_a_reader_hears_a_new_entry_as_it_is_stored_and_only_its_id(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    stream = _open_stream(pool, api, log_id, guardian)
    _wait_until(lambda: live.bus.subscribers(log_id) == 1)

    entry_id = _write(api, log_id, key, coordinator)

    response = stream.result(timeout=15)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert _entry_events(response.text) == [{"id": entry_id, "event": "entry", "data": entry_id}]
    assert _SECRET_TEXT.decode() not in response.text
    assert coordinator.subject not in response.text  # nor who wrote it
    assert live.bus.subscribers(log_id) == 0
    assert live.open_streams == 0
    assert ("read-entries", "allowed") in _actions(api, log_id, coordinator, guardian.subject)


def test_a_stream_ends_when_its_token_expires(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    started = time.monotonic()

    response = _open_stream(pool, api, log_id, coordinator, seconds=2).result(timeout=15)

    assert response.status_code == 200
    assert 1.0 <= time.monotonic() - started < 10
    assert _entry_events(response.text) == []
    assert live.open_streams == 0


def test_a_stream_is_refused_to_an_outsider_and_to_a_service_without_consent(
    api: LoggApi, live: LiveStreams
) -> None:
    coordinator, school, outsider = Actor.staff(), Actor.staff(), Actor.guardian()
    log_id, _ = api.create(coordinator, [(school, "service", "writer")])

    for actor, reason in ((outsider, "not-a-participant"), (school, "consent-missing")):
        response = api.get(f"/stafettlogger/{log_id}/events", actor)
        assert response.status_code == 403
        assert response.json()["type"] == f"urn:stafettlogg:problem:{reason}"
    assert api.get(f"/stafettlogger/{new_id('none')}/events", coordinator).status_code == 404
    assert ("read-entries", "denied") in _actions(api, log_id, coordinator, school.subject)
    assert live.open_streams == 0


def test_withdrawn_consent_ends_the_services_stream_at_once(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    log_id, coordinator, guardian, school = _log_with_a_service(api)
    consent = _give_consent(api, log_id, guardian, school)
    stream = _open_stream(pool, api, log_id, school, seconds=60)
    _wait_until(lambda: live.bus.subscribers(log_id) == 1)
    started = time.monotonic()

    withdrawn = api.post(
        f"/stafettlogger/{log_id}/consents/{consent.id}/withdraw",
        WithdrawalRequest(method="portal"),
        guardian,
    )
    assert withdrawn.status_code == 200

    response = stream.result(timeout=15)
    assert time.monotonic() - started < 10  # long before its token's 60 s
    messages = _parse(response.text)
    assert messages[-1] == {"event": "refused", "data": "consent-missing"}
    assert _entry_events(response.text) == []
    assert ("read-entries", "denied") in _actions(api, log_id, coordinator, school.subject)
    assert live.open_streams == 0


def test_the_periodic_check_ends_a_stream_whose_consent_has_run_out(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    log_id, _, guardian, school = _log_with_a_service(api)
    # valid for two more seconds: it runs out with no event to say so
    _give_consent(
        api, log_id, guardian, school, valid_until=datetime.now(UTC) + timedelta(seconds=2)
    )
    live.recheck_seconds = 0.5

    response = _open_stream(pool, api, log_id, school, seconds=30).result(timeout=20)

    assert _parse(response.text)[-1] == {"event": "refused", "data": "consent-missing"}


def test_an_entry_newer_than_the_last_event_id_is_announced_when_the_stream_opens(
    api: LoggApi, pool: ThreadPoolExecutor
) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    older = _write(api, log_id, key, coordinator)
    newest = _write(api, log_id, key, coordinator)

    behind = _open_stream(pool, api, log_id, coordinator, seconds=1, last_event_id=older)
    current = _open_stream(pool, api, log_id, coordinator, seconds=1, last_event_id=newest)

    assert [m["id"] for m in _entry_events(behind.result(timeout=15).text)] == [newest]
    assert _entry_events(current.result(timeout=15).text) == []


def test_a_malformed_last_event_id_is_a_400(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    headers = {**api.minter.headers(coordinator), "Last-Event-ID": "<script>"}

    response = api.client.get(f"/stafettlogger/{log_id}/events", headers=headers)

    assert response.status_code == 400


def test_a_caller_may_hold_only_so_many_streams(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    live.max_per_caller = 1
    first = _open_stream(pool, api, log_id, coordinator, seconds=2)
    _wait_until(lambda: live.open_streams == 1)

    second = api.get(f"/stafettlogger/{log_id}/events", coordinator)

    assert second.status_code == 429
    assert second.json()["type"] == "urn:stafettlogg:problem:too-many-streams"
    assert first.result(timeout=15).status_code == 200
    assert live.open_streams == 0


def test_a_stream_sends_heartbeats_while_nothing_happens(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    live.heartbeat_seconds = 0.3

    response = _open_stream(pool, api, log_id, coordinator, seconds=2).result(timeout=15)

    pings = [m for m in _parse(response.text) if m == {"": "ping"}]
    assert len(pings) >= 3


# --- the bus --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_bus_delivers_to_the_logs_subscribers_only() -> None:
    bus = EventBus()
    mine, other = bus.subscribe("log-a"), bus.subscribe("log-b")

    bus.publish_entry("log-a", "entry-1")

    assert await mine.next(1.0) == LogEvent(EventKind.ENTRY, "log-a", "entry-1")
    assert await other.next(0.05) is None
    mine.close()
    assert bus.subscribers("log-a") == 0


@pytest.mark.anyio
async def test_a_subscriber_that_falls_behind_keeps_the_newest_events() -> None:
    bus = EventBus(capacity=2)
    subscription = bus.subscribe("log-a")

    for n in range(5):
        bus.publish_entry("log-a", f"entry-{n}")

    received = [await subscription.next(0.1) for _ in range(3)]
    assert [event.entry_id if event else None for event in received] == [
        "entry-3",
        "entry-4",
        None,
    ]


@pytest.mark.anyio
async def test_two_buses_on_redis_deliver_to_each_other(redis_target: RedisTarget) -> None:
    channel = f"{redis_target.prefix}events"
    first_redis, second_redis = Redis.from_url(redis_target.url), Redis.from_url(redis_target.url)
    first, second = EventBus(channel=channel), EventBus(channel=channel)
    first.attach_redis(first_redis)
    second.attach_redis(second_redis)
    try:
        await first.wait_listening()
        await second.wait_listening()
        on_first, on_second = first.subscribe("log-a"), second.subscribe("log-a")

        first.publish_entry("log-a", "entry-1")
        second.publish_access_change("log-a")

        for subscription in (on_first, on_second):  # each hears both, its own included
            heard = [await subscription.next(5.0), await subscription.next(5.0)]
            assert sorted(str(event) for event in heard) == sorted(
                [
                    str(LogEvent(EventKind.ENTRY, "log-a", "entry-1")),
                    str(LogEvent(EventKind.ACCESS, "log-a")),
                ]
            )
        await first_redis.publish(channel, b'{"kind": "entry", "stafettlogg_id": "<x>"}')
        first.publish_entry("log-a", "entry-2")
        after = await on_second.next(5.0)
        assert after is not None
        assert after.entry_id == "entry-2"
    finally:
        await first.close()
        await second.close()
        await first_redis.aclose()
        await second_redis.aclose()


def test_an_entry_sealed_by_a_writer_reaches_a_stream_opened_before_it(
    api: LoggApi, live: LiveStreams, pool: ThreadPoolExecutor
) -> None:
    """A level change stores its sealed reason as an entry: it is announced like any entry."""
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(guardian, "person", "reader")])
    stream = _open_stream(pool, api, log_id, guardian)
    _wait_until(lambda: live.bus.subscribers(log_id) == 1)
    reason_id = new_id("entry")
    reason = seal(coordinator, log_id, key, entry_type="level_change", entry_id=reason_id)
    response = api.post(
        f"/stafettlogger/{log_id}/level", LevelChangeRequest(2, reason), coordinator
    )
    assert response.status_code == 201, response.text

    assert [m["id"] for m in _entry_events(stream.result(timeout=15).text)] == [reason_id]


def test_two_logg_instances_on_redis_tell_each_others_streams(
    logg_settings: Settings,
    minter: TokenMinter,
    redis_target: RedisTarget,
    pool: ThreadPoolExecutor,
) -> None:
    settings = msgspec.structs.replace(logg_settings, replay_redis_url=redis_target.url)
    first_app = create_app(settings, key_source=minter.key_source)
    second_app = create_app(settings, key_source=minter.key_source)
    with TestClient(first_app) as first, TestClient(second_app) as second:
        first_api, second_api = LoggApi(first, minter), LoggApi(second, minter)
        coordinator, guardian = Actor.staff(), Actor.guardian()
        log_id, key = second_api.create(coordinator, [(guardian, "person", "writer")])
        first_live: LiveStreams = first.app.state.live
        _wait_until(lambda: first_live.bus.listening)
        stream = _open_stream(pool, first_api, log_id, guardian)
        _wait_until(lambda: first_live.bus.subscribers(log_id) == 1)

        entry_id = _write(second_api, log_id, key, coordinator)

        assert [m["id"] for m in _entry_events(stream.result(timeout=15).text)] == [entry_id]
