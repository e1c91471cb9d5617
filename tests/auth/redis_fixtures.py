"""Redis for auth's tests: the server named by STAFETT_TEST_REDIS_URL, a unique key prefix per
test, every key under it deleted afterwards. Without the variable such tests are skipped, unless
STAFETT_REQUIRE_REDIS=1 (CI), which turns the skip into a failure."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

__all__ = ["RedisTarget", "redis_keys", "redis_target"]


@dataclass(frozen=True)
class RedisTarget:
    url: str
    prefix: str


def _url_or_skip() -> str:
    url = os.environ.get("STAFETT_TEST_REDIS_URL")
    if not url:
        if os.environ.get("STAFETT_REQUIRE_REDIS") == "1":
            pytest.fail("STAFETT_REQUIRE_REDIS=1 but STAFETT_TEST_REDIS_URL is not set")
        pytest.skip("set STAFETT_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15) to test Redis")
    return url


def redis_keys(target: RedisTarget) -> dict[bytes, object]:
    """Every key under the test's prefix, with its value (hashes and sets as Python values)."""

    async def read() -> dict[bytes, object]:
        client = Redis.from_url(target.url)
        found: dict[bytes, object] = {}
        async for key in client.scan_iter(match=f"{target.prefix}*"):
            kind = await client.type(key)
            if kind == b"hash":
                found[key] = await client.hgetall(key)
            elif kind == b"set":
                found[key] = await client.smembers(key)
            else:
                found[key] = await client.get(key)
        await client.aclose()
        return found

    return asyncio.run(read())


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    target = RedisTarget(_url_or_skip(), f"stafett-test:{secrets.token_hex(8)}:")

    async def clean() -> None:
        client = Redis.from_url(target.url)
        keys = [key async for key in client.scan_iter(match=f"{target.prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    yield target
    asyncio.run(clean())
