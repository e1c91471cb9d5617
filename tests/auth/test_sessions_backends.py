"""The session store's rules, run against both backends: auth's SQL database and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth.custody import LocalKek
from services.auth.database import migrate
from services.auth.directory import DirectoryService
from services.auth.session_stores import RedisSessionBackend, SqlSessionBackend
from services.auth.sessions import NewSession, SessionBackend, SessionStore, session_id_hash
from shared.crypto.keys import ParticipantKeys, generate_participant_keys
from shared.db import create_engine
from tests.auth.redis_fixtures import RedisTarget, redis_keys, redis_target
from tests.conftest import DatabaseFactory

__all__ = ["redis_target"]  # the fixture, imported for pytest

IDLE = 30 * 60
ABSOLUTE = 12 * 60 * 60
ISSUER = "https://idp.example"
KARI = "12838510068"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Scenario = Callable[[SessionStore, SessionBackend, Clock, str], Awaitable[None]]
Runner = Callable[[Scenario], None]


@pytest.fixture(params=["sql", "redis"])
def run_with_store(
    request: pytest.FixtureRequest, database_url: DatabaseFactory, tmp_path: Path
) -> Runner:
    """Runs a scenario with a fresh store on the parametrized backend, and a person's subject."""
    url = database_url("auth")
    migrate(url)
    target: RedisTarget | None = None
    if request.param == "redis":
        target = request.getfixturevalue("redis_target")

    @asynccontextmanager
    async def opened(clock: Clock) -> AsyncIterator[tuple[SessionStore, SessionBackend, str]]:
        engine = create_engine(url)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        directory = DirectoryService(sessionmaker, LocalKek(b"k" * 32), b"h" * 32)
        person, _ = await directory.person_for_login(KARI, "Kari Nordmann", "guardian")
        backend: SessionBackend
        if target is None:
            backend = SqlSessionBackend(sessionmaker)
        else:
            backend = RedisSessionBackend.from_url(target.url, prefix=target.prefix)
        store = SessionStore(backend, idle_seconds=IDLE, absolute_seconds=ABSOLUTE, clock=clock)
        try:
            yield store, backend, person.subject
        finally:
            await store.close()
            await engine.dispose()

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            clock = Clock()
            async with opened(clock) as (store, backend, subject):
                await scenario(store, backend, clock, subject)

        asyncio.run(main())

    return run


def _new(subject: str, *, sid: str | None = "sid-1", issuer: str = ISSUER) -> NewSession:
    return NewSession(
        subject=subject,
        role="guardian",
        service_id=None,
        acr="idporten-loa-high",
        idp_issuer=issuer,
        idp_sid=sid,
        person_keys=generate_participant_keys(),
        service_keys=None,
        id_token="header.payload.signature",
    )


def test_a_created_session_opens_with_its_cookie_and_not_with_another_secret(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, subject: str) -> None:
        new = _new(subject)
        cookie = await store.create(new)
        opened = await store.open(cookie)
        assert opened is not None
        assert opened.subject == subject
        assert opened.secrets.person_keys == new.person_keys.to_bytes()
        session_id = cookie.split(".")[0]
        assert await store.open(f"{session_id}.{'A' * 43}") is None
        assert await store.open(cookie) is not None  # a wrong secret does not end the session

    run_with_store(scenario)


def test_the_stored_record_holds_neither_the_cookie_nor_the_plain_keys(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, backend: SessionBackend, _c: Clock, s: str) -> None:
        new = _new(s)
        cookie = await store.create(new)
        id_hash = session_id_hash(cookie)
        assert id_hash is not None
        record = await backend.get(id_hash)
        assert record is not None
        session_id, secret = cookie.split(".")
        stored = repr(record).encode() + record.sealed_secrets
        assert session_id.encode() not in stored
        assert secret.encode() not in stored
        assert new.person_keys.to_bytes()[1:33] not in stored
        assert b"header.payload.signature" not in stored

    run_with_store(scenario)


def test_a_session_idle_longer_than_the_idle_limit_is_refused_and_deleted(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, backend: SessionBackend, clock: Clock, s: str) -> None:
        cookie = await store.create(_new(s))
        clock.advance(IDLE + 1)
        assert await store.open(cookie) is None
        id_hash = session_id_hash(cookie)
        assert id_hash is not None
        assert await backend.get(id_hash) is None

    run_with_store(scenario)


def test_use_within_the_idle_limit_keeps_the_session_until_the_absolute_limit(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, clock: Clock, s: str) -> None:
        cookie = await store.create(_new(s))
        elapsed = 0
        while elapsed + IDLE - 60 < ABSOLUTE:
            clock.advance(IDLE - 60)
            elapsed += IDLE - 60
            assert await store.open(cookie) is not None, f"refused after {elapsed} s"
        clock.advance(ABSOLUTE - elapsed)
        assert await store.open(cookie) is None

    run_with_store(scenario)


def test_a_new_login_gets_a_new_id_and_ends_the_session_it_replaces(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, s: str) -> None:
        first = await store.create(_new(s))
        second = await store.create(_new(s), replacing=first)
        assert first.split(".")[0] != second.split(".")[0]
        assert await store.open(first) is None
        assert await store.open(second) is not None

    run_with_store(scenario)


def test_ending_by_sid_ends_that_provider_logins_sessions_only(run_with_store: Runner) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, s: str) -> None:
        one = await store.create(_new(s, sid="shared-sid"))
        two = await store.create(_new(s, sid="shared-sid"))
        other_sid = await store.create(_new(s, sid="other-sid"))
        other_issuer = await store.create(_new(s, sid="shared-sid", issuer="https://other.idp"))
        assert await store.end_sessions_by_sid(ISSUER, "shared-sid") == 2
        assert await store.open(one) is None
        assert await store.open(two) is None
        assert await store.open(other_sid) is not None
        assert await store.open(other_issuer) is not None
        assert await store.end_sessions_by_sid(ISSUER, "shared-sid") == 0

    run_with_store(scenario)


def test_ending_by_subject_ends_all_of_a_persons_sessions(run_with_store: Runner) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, s: str) -> None:
        cookies = [await store.create(_new(s, sid=None)) for _ in range(2)]
        assert await store.end_sessions_of(s) == 2
        assert [await store.open(cookie) for cookie in cookies] == [None, None]

    run_with_store(scenario)


def test_ending_a_session_returns_what_it_held_once(run_with_store: Runner) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, s: str) -> None:
        cookie = await store.create(_new(s))
        ended = await store.end(cookie)
        assert ended is not None
        assert ended.secrets.id_token == "header.payload.signature"
        assert await store.end(cookie) is None

    run_with_store(scenario)


def test_redis_keys_expire_by_themselves_and_hold_only_sealed_secrets(
    redis_target: RedisTarget, database_url: DatabaseFactory
) -> None:
    async def scenario() -> str:
        backend = RedisSessionBackend.from_url(redis_target.url, prefix=redis_target.prefix)
        store = SessionStore(backend, idle_seconds=IDLE, absolute_seconds=ABSOLUTE)
        cookie = await store.create(_new("p_subject"))
        client = Redis.from_url(redis_target.url)
        ttl = await client.ttl(f"{redis_target.prefix}session:{session_id_hash(cookie)}")
        await client.aclose()
        await store.close()
        assert 0 < ttl <= IDLE
        return cookie

    cookie = asyncio.run(scenario())
    dumped = repr(redis_keys(redis_target)).encode()
    session_id, secret = cookie.split(".")
    assert session_id.encode() not in dumped
    assert secret.encode() not in dumped
    assert b"header.payload.signature" not in dumped


def _staff(subject: str, service_id: str | None = "unit-a") -> tuple[NewSession, ParticipantKeys]:
    unit_keys = generate_participant_keys()
    new = NewSession(
        subject=subject,
        role="staff",
        service_id=service_id,
        acr="idporten-loa-high",
        idp_issuer=ISSUER,
        idp_sid="sid-staff",
        person_keys=generate_participant_keys(),
        service_keys=unit_keys if service_id is not None else None,
        id_token="header.payload.signature",
    )
    return new, unit_keys


def test_acting_for_another_service_replaces_its_id_and_keys_and_keeps_the_rest(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, clock: Clock, s: str) -> None:
        new, old_keys = _staff(s)
        cookie = await store.create(new)
        before = await store.open(cookie)
        assert before is not None
        clock.advance(120)
        new_keys = generate_participant_keys()
        switched = await store.act_for_service(cookie, "unit-b", new_keys)
        assert switched is not None
        assert switched.service_id == "unit-b"
        reopened = await store.open(cookie)  # the same cookie still opens it
        assert reopened is not None
        assert reopened.service_id == "unit-b"
        assert reopened.secrets.service_keys == new_keys.to_bytes()
        assert reopened.secrets.service_keys != old_keys.to_bytes()
        assert reopened.secrets.person_keys == new.person_keys.to_bytes()
        assert reopened.secrets.id_token == new.id_token
        assert (reopened.subject, reopened.role, reopened.acr) == (s, "staff", new.acr)
        assert reopened.expires_at <= before.expires_at + 120  # limits are not extended

    run_with_store(scenario)


def test_a_switched_session_ends_with_its_new_service_not_its_old_one(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, s: str) -> None:
        new, _keys = _staff(s)
        cookie = await store.create(new)
        assert await store.act_for_service(cookie, "unit-b", generate_participant_keys())
        assert await store.end_sessions_for_service("unit-a") == 0
        assert await store.open(cookie) is not None
        assert await store.end_sessions_for_service("unit-b") == 1
        assert await store.open(cookie) is None

    run_with_store(scenario)


def test_a_session_acting_for_none_can_choose_and_choose_none_again(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, _b: SessionBackend, _c: Clock, s: str) -> None:
        new, _keys = _staff(s, service_id=None)
        cookie = await store.create(new)
        assert await store.act_for_service(cookie, "unit-a", generate_participant_keys())
        cleared = await store.act_for_service(cookie, None, None)
        assert cleared is not None
        reopened = await store.open(cookie)
        assert reopened is not None
        assert reopened.service_id is None
        assert reopened.secrets.service_keys is None
        with pytest.raises(ValueError, match="together"):
            await store.act_for_service(cookie, "unit-a", None)

    run_with_store(scenario)


def test_only_the_cookie_can_switch_and_an_ended_session_stays_ended(
    run_with_store: Runner,
) -> None:
    async def scenario(store: SessionStore, backend: SessionBackend, _c: Clock, s: str) -> None:
        new, old_keys = _staff(s)
        cookie = await store.create(new)
        session_id = cookie.split(".")[0]
        forged = f"{session_id}.{'A' * 43}"
        assert await store.act_for_service(forged, "unit-b", generate_participant_keys()) is None
        still = await store.open(cookie)
        assert still is not None
        assert still.service_id == "unit-a"
        assert still.secrets.service_keys == old_keys.to_bytes()
        await store.end(cookie)
        assert await store.act_for_service(cookie, "unit-b", generate_participant_keys()) is None
        id_hash = session_id_hash(cookie)
        assert id_hash is not None
        assert await backend.get(id_hash) is None
        assert not await backend.set_service(id_hash, "unit-b", b"sealed", now=int(_c()))
        assert await backend.get(id_hash) is None  # a write after the end brings nothing back

    run_with_store(scenario)
