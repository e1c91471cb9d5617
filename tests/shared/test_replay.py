"""The replay caches: a token id is accepted once until it expires, on every implementation."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from services.logg.database import migrate
from services.logg.models import Base, UsedAccessTokenRow
from shared.db import create_engine
from shared.replay import (
    DEFAULT_MEMORY_ENTRIES,
    LONGEST_HOLD_SECONDS,
    MEMORY_CACHE_RATE,
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    ReplayCacheUnavailableError,
    SqlReplayCache,
    choose_replay_cache,
)
from shared.tokens import MAX_TOKEN_LIFETIME, TOKEN_LEEWAY
from tests.conftest import DatabaseFactory

REDIS_URL_VARIABLE = "STAFETT_TEST_REDIS_URL"
_TABLE = Base.metadata.tables[UsedAccessTokenRow.__tablename__]


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logg_url(database_url: DatabaseFactory) -> str:
    """A migrated logg database (SQLite, or PostgreSQL with STAFETT_TEST_POSTGRES_URL)."""
    url = database_url("logg")
    migrate(url)
    return url


def _redis_url() -> str:
    url = os.environ.get(REDIS_URL_VARIABLE)
    if not url:
        if os.environ.get("STAFETT_REQUIRE_REDIS") == "1":
            pytest.fail(f"STAFETT_REQUIRE_REDIS=1 but {REDIS_URL_VARIABLE} is not set")
        pytest.skip(f"set {REDIS_URL_VARIABLE} (e.g. redis://127.0.0.1:6379/15) to test Redis")
    return url


async def _spent_twice(cache: ReplayCache, now: float) -> tuple[bool, bool]:
    jti = secrets.token_urlsafe(16)
    expires_at = int(now) + 60
    return await cache.first_use(jti, expires_at), await cache.first_use(jti, expires_at)


@pytest.mark.anyio
async def test_memory_cache_accepts_a_jti_once() -> None:
    clock = Clock()
    cache = MemoryReplayCache(namespace="stafett-logg", clock=clock)
    assert await _spent_twice(cache, clock.now) == (True, False)


@pytest.mark.anyio
async def test_memory_cache_keeps_audiences_apart() -> None:
    clock = Clock()
    logg = MemoryReplayCache(namespace="stafett-logg", clock=clock)
    auth = MemoryReplayCache(namespace="stafett-auth", clock=clock)
    assert await logg.first_use("same", int(clock.now) + 60)
    assert await auth.first_use("same", int(clock.now) + 60)


@pytest.mark.anyio
async def test_memory_cache_evicts_expired_entries_and_refuses_when_full_of_live_ones() -> None:
    clock = Clock()
    cache = MemoryReplayCache(namespace="stafett-logg", max_entries=2, clock=clock)
    now = int(clock.now)
    assert await cache.first_use("a", now + 10)
    assert await cache.first_use("b", now + 100)
    with pytest.raises(ReplayCacheUnavailableError):
        await cache.first_use("c", now + 100)  # full of live entries: fail closed
    clock.now += 10  # "a" expires
    assert await cache.first_use("c", now + 100)
    assert len(cache) == 2
    assert not await cache.first_use("b", now + 100)


@pytest.mark.anyio
async def test_memory_cache_refuses_an_already_expired_token() -> None:
    clock = Clock()
    cache = MemoryReplayCache(namespace="stafett-logg", clock=clock)
    assert not await cache.first_use("late", int(clock.now))


@pytest.mark.anyio
async def test_sql_cache_accepts_a_jti_once_and_purges_expired_rows(logg_url: str) -> None:
    url = logg_url
    engine = create_engine(url)
    clock = Clock()
    try:
        cache = SqlReplayCache(engine, _TABLE, namespace="stafett-logg", clock=clock)
        assert await _spent_twice(cache, clock.now) == (True, False)
        assert await cache.first_use("short", int(clock.now) + 5)
        clock.now += 61  # both expired
        assert await cache.purge_expired() == 2
        async with engine.connect() as connection:
            assert (await connection.scalar(select(func.count()).select_from(_TABLE))) == 0
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_sql_cache_lets_exactly_one_of_two_instances_accept_a_jti(logg_url: str) -> None:
    url = logg_url
    first, second = create_engine(url), create_engine(url)
    try:
        caches = [SqlReplayCache(engine, _TABLE, namespace="n") for engine in (first, second)]
        expires_at = int(time.time()) + 60
        for round_ in range(5):
            jti = f"contested-{round_}"
            answers = await asyncio.gather(*(c.first_use(jti, expires_at) for c in caches))
            assert sorted(answers) == [False, True]
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.anyio
async def test_sql_cache_fails_closed_without_its_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        cache = SqlReplayCache(engine, _TABLE, namespace="n")
        with pytest.raises(ReplayCacheUnavailableError):
            await cache.first_use("j", int(time.time()) + 60)
    finally:
        await engine.dispose()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(_redis_url())
    try:
        await client.ping()
    except (RedisConnectionError, OSError) as error:
        if os.environ.get("STAFETT_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable: {error}")
        pytest.skip(f"Redis unreachable: {error}")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_redis_cache_accepts_a_jti_once_and_lets_redis_expire_it(redis: Redis) -> None:
    prefix = f"test:{secrets.token_hex(4)}:"
    cache = RedisReplayCache(redis, namespace="stafett-logg", prefix=prefix)
    now = time.time()
    assert await _spent_twice(cache, now) == (True, False)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 1
    ttl = await redis.ttl(keys[0])
    assert 0 < ttl <= 60
    await redis.delete(*keys)


@pytest.mark.anyio
async def test_redis_cache_shared_by_two_instances_accepts_once(redis: Redis) -> None:
    prefix = f"test:{secrets.token_hex(4)}:"
    other = Redis.from_url(_redis_url())
    try:
        caches = [
            RedisReplayCache(client, namespace="n", prefix=prefix) for client in (redis, other)
        ]
        expires_at = int(time.time()) + 60
        answers = await asyncio.gather(*(c.first_use("contested", expires_at) for c in caches))
        assert sorted(answers) == [False, True]
    finally:
        await other.aclose()
        await redis.delete(*[key async for key in redis.scan_iter(match=f"{prefix}*")])


@pytest.mark.anyio
async def test_redis_cache_fails_closed_when_redis_is_down() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        cache = RedisReplayCache(unreachable, namespace="n")
        with pytest.raises(ReplayCacheUnavailableError):
            await cache.first_use("j", int(time.time()) + 60)
    finally:
        await unreachable.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "with_redis", "expected"),
    [
        ("sqlite+aiosqlite:///x.db", False, MemoryReplayCache),
        ("postgresql+asyncpg://db/logg", False, SqlReplayCache),
        ("postgresql+asyncpg://db/logg", True, RedisReplayCache),
        ("sqlite+aiosqlite:///x.db", True, RedisReplayCache),
    ],
)
async def test_the_cache_is_chosen_by_redis_then_database_kind(
    url: str, with_redis: bool, expected: type[object], tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    redis = Redis.from_url("redis://127.0.0.1:1/0") if with_redis else None
    try:
        cache = choose_replay_cache(
            namespace="n", database_url=url, redis=redis, engine=engine, table=_TABLE
        )
        assert isinstance(cache, expected)
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def test_the_memory_cache_default_holds_every_token_of_its_rate() -> None:
    """Tokens are held up to MAX_TOKEN_LIFETIME after an iat TOKEN_LEEWAY ahead, plus the
    leeway after exp: the default capacity covers MEMORY_CACHE_RATE tokens a second for that
    long."""
    assert LONGEST_HOLD_SECONDS == MAX_TOKEN_LIFETIME + 2 * TOKEN_LEEWAY
    assert DEFAULT_MEMORY_ENTRIES == MEMORY_CACHE_RATE * LONGEST_HOLD_SECONDS
    assert MEMORY_CACHE_RATE >= 1_000


@pytest.mark.anyio
async def test_memory_cache_keeps_accepting_at_a_steady_rate_of_full_lifetime_tokens() -> None:
    """The old cap (100 000) filled at ~330 tokens/s of five-minute tokens and refused
    everything; at a steady rate the cache holds a constant number of entries instead."""
    clock = Clock()
    cache = MemoryReplayCache(namespace="stafett-logg", max_entries=20 * 331, clock=clock)
    start = int(clock.now)
    for second in range(1_000):
        clock.now = start + second
        for token in range(20):
            expires_at = int(clock.now) + MAX_TOKEN_LIFETIME + TOKEN_LEEWAY
            assert await cache.first_use(f"{second}-{token}", expires_at)
    assert len(cache) <= 20 * 331
    assert not await cache.first_use("999-19", int(clock.now) + 1)  # still remembered


@pytest.mark.anyio
async def test_memory_cache_forgets_a_jti_only_after_it_expires() -> None:
    clock = Clock()
    cache = MemoryReplayCache(namespace="stafett-logg", clock=clock)
    now = int(clock.now)
    assert await cache.first_use("j", now + 10)
    clock.now += 9
    assert not await cache.first_use("j", now + 10)
    assert not await cache.first_use("j", now + 50)  # a later expiry does not reset it
    clock.now += 1
    assert not await cache.first_use("j", now + 10)  # that token can no longer be accepted
    assert await cache.first_use("j", now + 50)
    assert len(cache) == 1
