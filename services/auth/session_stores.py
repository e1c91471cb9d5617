"""The two places session records can live: auth's SQL database, or Redis.

Both keep the same `SessionRecord`: the session's metadata and its secrets sealed under a key
that only the browser's cookie holds (see `services.auth.sessions`). Neither can open a session
by itself. SQL is the default; Redis (STAFETT_SESSION_REDIS_URL) lets several auth instances
share sessions without a shared SQL database write on every request, and expires keys itself.

Redis layout, under a configurable key prefix:
- `<prefix>session:<id hash>`: a hash with the record's fields, time to live = the earlier of
  the idle and the absolute limit, renewed when the session is used;
- `<prefix>by-sid:<sha256(issuer, sid)>`, `<prefix>by-subject:<subject>`,
  `<prefix>by-service:<service id>`: sets of id hashes, to end sessions by the identity
  provider's `sid` (front-channel logout), by person or by service unit. They live as long as
  the newest session in them and may name sessions already gone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from services.auth.sessions import SessionBackend, SessionRecord, SessionStore
from services.auth.settings import Settings

__all__ = [
    "RedisSessionBackend",
    "SqlSessionBackend",
    "build_session_store",
    "sql_sweeper",
]

_FIELDS_INT = ("created_at", "last_seen_at", "expires_at")
_FIELDS_STR = ("subject", "role", "service_id", "acr", "idp_issuer", "idp_sid")

# Renew the time to live only of a session that still exists: a touch racing a logout must not
# bring back a half record.
_TOUCH_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Change the unit a session acts for, only if the session still exists, and move it from the old
# unit's index to the new one (which lives at least as long as the session may).
# KEYS[1] the session; ARGV: sealed secrets, new service id ("" for none), id hash, index prefix,
# seconds the session may still live.
_SET_SERVICE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local old = redis.call('HGET', KEYS[1], 'service_id')
redis.call('HSET', KEYS[1], 'sealed_secrets', ARGV[1])
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'service_id')
else
  redis.call('HSET', KEYS[1], 'service_id', ARGV[2])
  local index = ARGV[4] .. ARGV[2]
  redis.call('SADD', index, ARGV[3])
  if redis.call('TTL', index) < tonumber(ARGV[5]) then
    redis.call('EXPIRE', index, ARGV[5])
  end
end
if old and old ~= ARGV[2] then
  redis.call('SREM', ARGV[4] .. old, ARGV[3])
end
return 1
"""


def sql_sweeper(
    sessionmaker: async_sessionmaker[AsyncSession], idle_seconds: int
) -> Callable[[int], Awaitable[None]]:
    """Deletes expired SQL rows (sessions, login attempts, used client assertions); run at
    each login, whichever backend holds the sessions."""

    async def sweep(now: int) -> None:
        async with sessionmaker() as db:
            await models.delete_expired(db, now, idle_seconds)
            await db.commit()

    return sweep


class SqlSessionBackend:
    """Session records as rows of auth's `sessions` table (SQLite or PostgreSQL)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def put(self, record: SessionRecord, *, idle_seconds: int) -> None:
        async with self._sessionmaker() as db:
            db.add(
                models.SessionRow(
                    id_hash=record.id_hash,
                    subject=record.subject,
                    role=record.role,
                    service_id=record.service_id,
                    acr=record.acr,
                    idp_issuer=record.idp_issuer,
                    idp_sid=record.idp_sid,
                    sealed_secrets=record.sealed_secrets,
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    expires_at=record.expires_at,
                )
            )
            await db.commit()

    async def get(self, id_hash: str) -> SessionRecord | None:
        async with self._sessionmaker() as db:
            row = await models.get_session(db, id_hash)
        if row is None:
            return None
        return SessionRecord(
            id_hash=row.id_hash,
            subject=row.subject,
            role=row.role,
            service_id=row.service_id,
            acr=row.acr,
            idp_issuer=row.idp_issuer,
            idp_sid=row.idp_sid,
            sealed_secrets=row.sealed_secrets,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
        )

    async def touch(self, id_hash: str, now: int, *, idle_seconds: int) -> None:
        async with self._sessionmaker() as db:
            await models.touch_session(db, id_hash, now)
            await db.commit()

    async def delete(self, id_hash: str) -> None:
        async with self._sessionmaker() as db:
            await models.delete_session(db, id_hash)
            await db.commit()

    async def set_service(
        self, id_hash: str, service_id: str | None, sealed_secrets: bytes, *, now: int
    ) -> bool:
        async with self._sessionmaker() as db:
            changed = await models.set_session_service(db, id_hash, service_id, sealed_secrets)
            await db.commit()
        return changed

    async def _delete_where(self, *conditions: Any) -> int:
        async with self._sessionmaker() as db:
            result = await db.execute(delete(models.SessionRow).where(*conditions))
            await db.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def delete_by_sid(self, idp_issuer: str, idp_sid: str) -> int:
        return await self._delete_where(
            models.SessionRow.idp_issuer == idp_issuer, models.SessionRow.idp_sid == idp_sid
        )

    async def delete_by_subject(self, subject: str) -> int:
        return await self._delete_where(models.SessionRow.subject == subject)

    async def delete_by_service(self, service_id: str) -> int:
        return await self._delete_where(models.SessionRow.service_id == service_id)

    async def close(self) -> None:
        """The engine belongs to the app, which disposes it."""


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _sid_key(idp_issuer: str, idp_sid: str) -> str:
    return hashlib.sha256(f"{idp_issuer}\x00{idp_sid}".encode()).hexdigest()


class RedisSessionBackend:
    """Session records as Redis hashes that expire by themselves (redis.asyncio)."""

    def __init__(self, redis: Redis, *, prefix: str = "stafett:auth:", owns_client: bool) -> None:
        self._redis = redis
        self._prefix = prefix
        self._owns_client = owns_client
        self._touch = redis.register_script(_TOUCH_SCRIPT)
        self._set_service = redis.register_script(_SET_SERVICE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "stafett:auth:") -> RedisSessionBackend:
        """A backend with its own connection pool to the Redis at `url`."""
        return cls(Redis.from_url(url), prefix=prefix, owns_client=True)

    def _session_key(self, id_hash: str) -> str:
        return f"{self._prefix}session:{id_hash}"

    def _index_keys(self, record: SessionRecord) -> list[str]:
        keys = [f"{self._prefix}by-subject:{record.subject}"]
        if record.idp_sid:
            keys.append(f"{self._prefix}by-sid:{_sid_key(record.idp_issuer, record.idp_sid)}")
        if record.service_id:
            keys.append(f"{self._prefix}by-service:{record.service_id}")
        return keys

    async def put(self, record: SessionRecord, *, idle_seconds: int) -> None:
        fields: dict[str, str | bytes | int] = {"sealed_secrets": record.sealed_secrets}
        for name in (*_FIELDS_STR, *_FIELDS_INT):
            value = getattr(record, name)
            if value is not None:
                fields[name] = value
        key = self._session_key(record.id_hash)
        ttl = max(1, min(record.expires_at - record.last_seen_at, idle_seconds))
        lifetime = max(1, record.expires_at - record.created_at)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # redis' mapping type is narrow
            pipe.expire(key, ttl)
            for index in self._index_keys(record):
                pipe.sadd(index, record.id_hash)
                pipe.expire(index, lifetime)
            await pipe.execute()

    async def get(self, id_hash: str) -> SessionRecord | None:
        stored = await self._redis.hgetall(self._session_key(id_hash))
        raw = {_as_bytes(name): _as_bytes(value) for name, value in stored.items()}
        if not raw or b"sealed_secrets" not in raw:
            return None
        try:
            text = {
                name: raw[name.encode()].decode() for name in _FIELDS_STR if name.encode() in raw
            }
            return SessionRecord(
                id_hash=id_hash,
                subject=text["subject"],
                role=text["role"],
                service_id=text.get("service_id"),
                acr=text["acr"],
                idp_issuer=text["idp_issuer"],
                idp_sid=text.get("idp_sid"),
                sealed_secrets=raw[b"sealed_secrets"],
                created_at=int(raw[b"created_at"]),
                last_seen_at=int(raw[b"last_seen_at"]),
                expires_at=int(raw[b"expires_at"]),
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            return None  # a damaged record opens nothing

    async def touch(self, id_hash: str, now: int, *, idle_seconds: int) -> None:
        record = await self.get(id_hash)
        if record is None:
            return
        ttl = max(1, min(record.expires_at - now, idle_seconds))
        await self._touch(keys=[self._session_key(id_hash)], args=[now, ttl])

    async def delete(self, id_hash: str) -> None:
        await self._redis.delete(self._session_key(id_hash))

    async def set_service(
        self, id_hash: str, service_id: str | None, sealed_secrets: bytes, *, now: int
    ) -> bool:
        record = await self.get(id_hash)
        if record is None:
            return False
        remaining = max(1, record.expires_at - now)
        changed = await self._set_service(
            keys=[self._session_key(id_hash)],
            args=[
                sealed_secrets,
                service_id or "",
                id_hash,
                f"{self._prefix}by-service:",
                remaining,
            ],
        )
        return bool(changed)

    async def _delete_index(self, index: str) -> int:
        members = [_as_bytes(member) for member in await self._redis.smembers(index)]
        keys = [self._session_key(member.decode()) for member in members]
        deleted = int(await self._redis.delete(*keys)) if keys else 0
        await self._redis.delete(index)
        return deleted

    async def delete_by_sid(self, idp_issuer: str, idp_sid: str) -> int:
        return await self._delete_index(f"{self._prefix}by-sid:{_sid_key(idp_issuer, idp_sid)}")

    async def delete_by_subject(self, subject: str) -> int:
        return await self._delete_index(f"{self._prefix}by-subject:{subject}")

    async def delete_by_service(self, service_id: str) -> int:
        return await self._delete_index(f"{self._prefix}by-service:{service_id}")

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def build_session_store(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> SessionStore:
    """The session store the settings ask for: Redis when STAFETT_SESSION_REDIS_URL is set,
    else auth's database. Expired SQL rows are swept at each login either way."""
    backend: SessionBackend
    if settings.session_redis_url is not None:
        backend = RedisSessionBackend.from_url(
            settings.session_redis_url, prefix=settings.redis_key_prefix
        )
    else:
        backend = SqlSessionBackend(sessionmaker)
    return SessionStore(
        backend,
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
        sweep=sql_sweeper(sessionmaker, settings.session_idle_seconds),
    )
