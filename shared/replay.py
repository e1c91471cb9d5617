"""Replay caches for token ids (`jti`): a bearer token is accepted once, never twice.

Service tokens are one-shot (RFC 9068 tokens are normally reusable; stafettlogg narrows that):
the portal fetches a fresh token for every call. A verifier asks `first_use(jti, expires_at)` after
the signature and every claim have been checked, and refuses the token when the answer is False.

Which implementation a service uses (see `choose_replay_cache`):

- `RedisReplayCache` when a Redis URL is configured: `SET key 1 NX EXAT` is atomic on the server,
  so any number of instances share one view.
- `SqlReplayCache` when the service's database is PostgreSQL: an INSERT under a unique key is the
  arbiter (`ON CONFLICT DO NOTHING ... RETURNING`), so several instances are safe without Redis.
- `MemoryReplayCache` when the database is SQLite: SQLite means one process (one writer), and an
  in-process map is both correct there and free of a write per request.

Every implementation fails closed: when it cannot answer it raises `ReplayCacheUnavailableError`,
and the caller must refuse the token (logg and auth answer 503). None of them stores the jti
itself, only its SHA-256, and none holds an entry longer than the token could still be accepted.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import is_sqlite

__all__ = [
    "DEFAULT_MEMORY_ENTRIES",
    "LONGEST_HOLD_SECONDS",
    "MEMORY_CACHE_RATE",
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "ReplayCacheUnavailableError",
    "SqlReplayCache",
    "choose_replay_cache",
    "jti_digest",
]

_log = logging.getLogger("stafett.replay")
_PURGE_INTERVAL = 60.0


class ReplayCacheUnavailableError(Exception):
    """The cache could not answer (full, or its store is down). Refuse the token: fail closed."""


@runtime_checkable
class ReplayCache(Protocol):
    async def first_use(self, jti: str, expires_at: int) -> bool:
        """Remember `jti` until `expires_at` (Unix seconds) and return True if it was not seen
        before; False if it was (a replay) or if `expires_at` has already passed.
        Raises ReplayCacheUnavailableError when it cannot tell."""
        ...  # pragma: no cover - a protocol


def jti_digest(namespace: str, jti: str) -> str:
    """SHA-256 (hex) of the token id within `namespace` (the audience): what the caches store."""
    return hashlib.sha256(f"{namespace}\x00{jti}".encode()).hexdigest()


# How long the memory cache may have to hold a jti: a token lives at most 300 s
# (shared.tokens.MAX_TOKEN_LIFETIME) from an `iat` up to 30 s ahead of our clock, and is kept
# until 30 s after its `exp` (TOKEN_LEEWAY, which the verifier adds to `expires_at`).
LONGEST_HOLD_SECONDS = 300 + 2 * 30
# The token rate the default capacity is sized for: well above what one logg process on SQLite
# serves (docs/performance.md), so the cap only ever bites under a flood.
MEMORY_CACHE_RATE = 1_000
DEFAULT_MEMORY_ENTRIES = MEMORY_CACHE_RATE * LONGEST_HOLD_SECONDS


class MemoryReplayCache:
    """In-process and bounded: for one instance only (the SQLite default).

    Guarantees: a jti is accepted at most once while it is remembered, and it is remembered until
    its `expires_at`. Expired entries are evicted first; when `max_entries` unexpired entries are
    held, further tokens are refused (ReplayCacheUnavailableError) rather than forgetting one that
    could still be replayed. The default capacity holds every token of a sustained
    `MEMORY_CACHE_RATE` tokens a second (about 100 bytes each: ~35 MB when full). Does not
    protect a second process: use SQL or Redis for that.

    Each call is O(1) amortised: jtis are kept in buckets by `expires_at` (whole seconds, so a
    few hundred buckets at most), and eviction drops whole buckets as their second passes."""

    def __init__(
        self,
        *,
        namespace: str,
        max_entries: int = DEFAULT_MEMORY_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._namespace = namespace.encode() + b"\x00"
        self._max = max_entries
        self._clock = clock
        self._seen: set[int] = set()
        self._buckets: dict[int, list[int]] = {}  # expires_at -> the keys that expire then
        self._expiries: list[int] = []  # heap of the buckets' expires_at

    def __len__(self) -> int:
        return len(self._seen)

    def _key(self, jti: str) -> int:
        """The first 64 bits of `jti_digest` as an int: a third of the memory of the hex digest.
        Two live jtis sharing 64 bits (odds ~n/2^64) would make the second look replayed: it is
        refused, which fails closed, and a replay is never missed (equal jtis, equal keys)."""
        digest = hashlib.sha256(self._namespace + jti.encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def _evict_expired(self, now: int) -> None:
        while self._expiries and self._expiries[0] <= now:
            for key in self._buckets.pop(heapq.heappop(self._expiries)):
                self._seen.discard(key)

    async def first_use(self, jti: str, expires_at: int) -> bool:
        now = int(self._clock())
        if expires_at <= now:
            return False
        self._evict_expired(now)
        key = self._key(jti)
        if key in self._seen:
            return False
        if len(self._seen) >= self._max:
            _log.warning("the replay cache is full; refusing tokens until entries expire")
            raise ReplayCacheUnavailableError("the replay cache is full")
        self._seen.add(key)
        bucket = self._buckets.get(expires_at)
        if bucket is None:
            self._buckets[expires_at] = [key]
            heapq.heappush(self._expiries, expires_at)
        else:
            bucket.append(key)
        return True


class SqlReplayCache:
    """A table of used token ids, shared by every instance on the same database.

    `table` needs a string primary key `jti_hash` (64 characters) and an integer `expires_at`.
    Guarantees: across all instances a jti is accepted at most once until `expires_at`, because
    the INSERT of its digest under the primary key succeeds for exactly one of them. Rows whose
    time has passed are purged at most once a minute per instance. Any database error raises
    ReplayCacheUnavailableError (the token is refused)."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        *,
        namespace: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._table = table
        self._namespace = namespace
        self._clock = clock
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._next_purge = 0.0

    async def first_use(self, jti: str, expires_at: int) -> bool:
        now = int(self._clock())
        if expires_at <= now:
            return False
        key = jti_digest(self._namespace, jti)
        statement = (
            self._insert(self._table)
            .values(jti_hash=key, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["jti_hash"])
            .returning(self._table.c.jti_hash)
        )
        try:
            # One statement in autocommit: the INSERT commits on its own (as durably as in a
            # transaction), without the BEGIN and COMMIT round trips of an explicit one.
            async with self._autocommit.connect() as connection:
                inserted = (await connection.execute(statement)).first() is not None
            if now >= self._next_purge:
                self._next_purge = now + _PURGE_INTERVAL
                await self.purge_expired()
        except SQLAlchemyError as error:
            _log.warning("the replay table cannot be used: %s", type(error).__name__)
            raise ReplayCacheUnavailableError("the replay table cannot be used") from error
        return inserted

    async def purge_expired(self) -> int:
        """Delete the rows whose tokens can no longer be accepted; returns how many."""
        now = int(self._clock())
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(self._table).where(self._table.c.expires_at <= now)
            )
        return int(getattr(result, "rowcount", 0) or 0)


class RedisReplayCache:
    """Redis `SET key 1 NX EXAT expires_at`: one view for any number of instances.

    Guarantees: a jti is accepted at most once while Redis keeps the key (until `expires_at`;
    Redis expires it itself). Does not survive a Redis flush or a failover that loses writes
    (use a persistent, replicated Redis). Any Redis error raises ReplayCacheUnavailableError."""

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        prefix: str = "stafett:jti:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._prefix = prefix
        self._clock = clock

    async def first_use(self, jti: str, expires_at: int) -> bool:
        if expires_at <= int(self._clock()):
            return False
        key = self._prefix + jti_digest(self._namespace, jti)
        try:
            stored = await self._redis.set(key, b"1", nx=True, exat=expires_at)
        except (RedisError, OSError) as error:
            _log.warning("redis cannot be used for the replay cache: %s", type(error).__name__)
            raise ReplayCacheUnavailableError("the replay cache cannot be reached") from error
        return bool(stored)


def choose_replay_cache(
    *,
    namespace: str,
    database_url: str,
    redis: Redis | None,
    engine: AsyncEngine,
    table: Table,
) -> ReplayCache:
    """Redis if a client is given; else the database table unless the database is SQLite (one
    process), where the in-memory cache is used. See the module docstring for why."""
    if redis is not None:
        return RedisReplayCache(redis, namespace=namespace)
    if is_sqlite(database_url):
        return MemoryReplayCache(namespace=namespace)
    return SqlReplayCache(engine, table, namespace=namespace)
