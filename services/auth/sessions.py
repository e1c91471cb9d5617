"""Server-side sessions whose secrets only the browser's cookie can open.

The cookie value is `<session id>.<session secret>`, both 32 random bytes in base64url. The row
is keyed by SHA-256 of the id; the person's private keys (and a staff member's service keys) and
the identity provider's ID token are sealed with AES-256-GCM under a key derived (HKDF-SHA256,
RFC 5869) from the secret. The secret is stored nowhere, so the session table alone opens nothing,
and a guessed or stolen id without its secret is worthless.

The records live in SQL (auth's database) or, when STAFETT_SESSION_REDIS_URL is set, in Redis
(`services.auth.session_stores`); both hold the same sealed records, and every rule (the idle and
absolute limits, sealing, a new id at every login) is enforced here, once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar.di import NamedDependency

from shared.crypto.keys import ParticipantKeys

__all__ = [
    "ActiveSession",
    "NewSession",
    "SessionBackend",
    "SessionRecord",
    "SessionSecrets",
    "SessionStore",
    "Sessions",
    "parse_cookie_value",
    "session_id_hash",
]

_TOKEN_BYTES = 32
_PART = re.compile(r"^[A-Za-z0-9_-]{43}$")
_LABEL = b"stafett/session/v1"
_TOUCH_INTERVAL = 60


class SessionSecrets(msgspec.Struct, frozen=True):
    """What only the cookie's holder can open."""

    person_keys: bytes
    service_keys: bytes | None
    id_token: str


@dataclass(frozen=True, slots=True)
class NewSession:
    subject: str
    role: str
    service_id: str | None
    acr: str
    idp_issuer: str
    idp_sid: str | None
    person_keys: ParticipantKeys
    service_keys: ParticipantKeys | None
    id_token: str


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A session whose cookie was authentic and which has not expired."""

    subject: str
    role: str
    service_id: str | None
    acr: str
    idp_issuer: str
    expires_at: int
    secrets: SessionSecrets


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=")


def _id_hash(session_id: bytes) -> str:
    return hashlib.sha256(session_id).hexdigest()


def _aead(secret: bytes, id_hash: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_LABEL, info=id_hash.encode()).derive(
        secret
    )
    return AESGCM(key)


def _seal(secret: bytes, id_hash: str, payload: SessionSecrets) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead(secret, id_hash).encrypt(
        nonce, msgspec.msgpack.encode(payload), _LABEL + id_hash.encode()
    )


def _parse_cookie(value: str) -> tuple[bytes, bytes] | None:
    session_id, _, secret = value.partition(".")
    if not _PART.fullmatch(session_id) or not _PART.fullmatch(secret):
        return None
    return _unb64(session_id), _unb64(secret)


def parse_cookie_value(value: str) -> tuple[bytes, bytes] | None:
    """(session id, secret) of a well-formed cookie value, else None. Says nothing about
    whether the session exists."""
    return _parse_cookie(value)


def session_id_hash(cookie_value: str) -> str | None:
    """The stored key of the session a cookie value names (SHA-256 of its id), or None when the
    value is malformed: a stable, non-secret handle, e.g. for per-session rate limits."""
    parsed = _parse_cookie(cookie_value)
    return _id_hash(parsed[0]) if parsed is not None else None


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored session: what a session backend keeps. `sealed_secrets` opens only with the
    cookie's secret; `id_hash` is SHA-256 of the session id, never the id itself."""

    id_hash: str
    subject: str
    role: str
    service_id: str | None
    acr: str
    idp_issuer: str
    idp_sid: str | None
    sealed_secrets: bytes
    created_at: int
    last_seen_at: int
    expires_at: int  # the absolute limit


class SessionBackend(Protocol):
    """Where session records live: SQL (`SqlSessionBackend`) or Redis (`RedisSessionBackend`),
    both in `services.auth.session_stores`. A backend stores and finds records; every rule
    (expiry, sealing, the cookie) is in `SessionStore`, once for both."""

    async def put(self, record: SessionRecord, *, idle_seconds: int) -> None:
        """Store a new record (Redis also sets the key's time to live)."""

    async def get(self, id_hash: str) -> SessionRecord | None:
        """The record, or None."""

    async def touch(self, id_hash: str, now: int, *, idle_seconds: int) -> None:
        """Mark the session as used at `now` (does not bring back a deleted session)."""

    async def delete(self, id_hash: str) -> None:
        """Forget one session; no error if it is already gone."""

    async def set_service(
        self, id_hash: str, service_id: str | None, sealed_secrets: bytes, *, now: int
    ) -> bool:
        """Replace the session's service unit and sealed secrets together (one atomic write,
        so the two never disagree) and file it under the new unit for `delete_by_service`.
        Returns False, changing nothing, if the session is gone: a deleted session never comes
        back."""

    async def delete_by_sid(self, idp_issuer: str, idp_sid: str) -> int:
        """Forget every session from this login at the identity provider; returns how many."""

    async def delete_by_subject(self, subject: str) -> int:
        """Forget every session of this person; returns how many."""

    async def delete_by_service(self, service_id: str) -> int:
        """Forget every session that carries this service unit's keys; returns how many."""

    async def close(self) -> None:
        """Release connections."""


Sweeper = Callable[[int], Awaitable[None]]
Clock = Callable[[], float]


class SessionStore:
    """Creates, opens and ends sessions in a `SessionBackend`. Idle and absolute limits both
    apply, checked here on every open whatever the backend's own expiry does."""

    def __init__(
        self,
        backend: SessionBackend,
        *,
        idle_seconds: int,
        absolute_seconds: int,
        sweep: Sweeper | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._backend = backend
        self._idle = idle_seconds
        self._absolute = absolute_seconds
        self._sweep = sweep
        self._clock = clock

    @property
    def absolute_seconds(self) -> int:
        return self._absolute

    @property
    def idle_seconds(self) -> int:
        return self._idle

    def _now(self) -> int:
        return int(self._clock())

    async def create(self, new: NewSession, *, replacing: str | None = None) -> str:
        """Store a fresh session and return the cookie value.

        Guarantees: each call makes a new random id and secret (a login never reuses a session
        id: no fixation); the session named by `replacing` (the browser's old cookie), if any,
        is ended; the private keys and ID token are stored only sealed under the secret, which
        is stored nowhere. Does not: end the person's other sessions in other browsers."""
        session_id = secrets.token_bytes(_TOKEN_BYTES)
        secret = secrets.token_bytes(_TOKEN_BYTES)
        id_hash = _id_hash(session_id)
        sealed = _seal(
            secret,
            id_hash,
            SessionSecrets(
                new.person_keys.to_bytes(),
                new.service_keys.to_bytes() if new.service_keys is not None else None,
                new.id_token,
            ),
        )
        now = self._now()
        if self._sweep is not None:
            await self._sweep(now)
        old = _parse_cookie(replacing) if replacing else None
        if old is not None:
            await self._backend.delete(_id_hash(old[0]))
        await self._backend.put(
            SessionRecord(
                id_hash=id_hash,
                subject=new.subject,
                role=new.role,
                service_id=new.service_id,
                acr=new.acr,
                idp_issuer=new.idp_issuer,
                idp_sid=new.idp_sid,
                sealed_secrets=sealed,
                created_at=now,
                last_seen_at=now,
                expires_at=now + self._absolute,
            ),
            idle_seconds=self._idle,
        )
        return f"{_b64(session_id)}.{_b64(secret)}"

    async def open(self, cookie_value: str) -> ActiveSession | None:
        """The session if the cookie is authentic (its secret opens the sealed part) and the
        session is within both its idle and absolute limits; else None. Marks it as used.

        Guarantees: a record alone (a stolen database or Redis dump) opens nothing; an expired
        session is deleted and refused. Does not: notice a stolen cookie used from elsewhere."""
        parsed = _parse_cookie(cookie_value)
        if parsed is None:
            return None
        session_id, secret = parsed
        id_hash = _id_hash(session_id)
        now = self._now()
        record = await self._backend.get(id_hash)
        if record is None:
            return None
        if record.expires_at <= now or record.last_seen_at + self._idle <= now:
            await self._backend.delete(id_hash)
            return None
        try:
            nonce, body = record.sealed_secrets[:12], record.sealed_secrets[12:]
            payload = _aead(secret, id_hash).decrypt(nonce, body, _LABEL + id_hash.encode())
        except (InvalidTag, ValueError):
            return None
        if now - record.last_seen_at >= _TOUCH_INTERVAL:
            await self._backend.touch(id_hash, now, idle_seconds=self._idle)
        return ActiveSession(
            subject=record.subject,
            role=record.role,
            service_id=record.service_id,
            acr=record.acr,
            idp_issuer=record.idp_issuer,
            expires_at=min(record.expires_at, now + self._idle),
            secrets=msgspec.msgpack.decode(payload, type=SessionSecrets),
        )

    async def act_for_service(
        self, cookie_value: str, service_id: str | None, service_keys: ParticipantKeys | None
    ) -> ActiveSession | None:
        """Make the session act for another service unit: its id and its private keys replace
        the session's, sealed afresh under the cookie's secret (which only the caller holds).

        Guarantees: only a cookie that opens the session (authentic, within its limits) can
        change it; the old unit's keys are no longer in the session afterwards; the session's
        id, secret, person keys, ID token and limits are unchanged; a session ended meanwhile
        stays ended (None). Does not: check that the person may act for the unit (the caller
        must, against the directory) or give a new session id (the person is the same)."""
        if (service_id is None) != (service_keys is None):
            raise ValueError("a service unit and its keys go together")
        active = await self.open(cookie_value)
        parsed = _parse_cookie(cookie_value)
        if active is None or parsed is None:
            return None
        session_id, secret = parsed
        id_hash = _id_hash(session_id)
        secrets_now = SessionSecrets(
            active.secrets.person_keys,
            service_keys.to_bytes() if service_keys is not None else None,
            active.secrets.id_token,
        )
        sealed = _seal(secret, id_hash, secrets_now)
        if not await self._backend.set_service(id_hash, service_id, sealed, now=self._now()):
            return None
        return ActiveSession(
            subject=active.subject,
            role=active.role,
            service_id=service_id,
            acr=active.acr,
            idp_issuer=active.idp_issuer,
            expires_at=active.expires_at,
            secrets=secrets_now,
        )

    async def end(self, cookie_value: str) -> ActiveSession | None:
        """End the session; returns what it held (for RP-initiated logout) if it was valid.
        A cookie whose secret does not open the session ends nothing."""
        active = await self.open(cookie_value)
        parsed = _parse_cookie(cookie_value)
        if active is not None and parsed is not None:
            await self._backend.delete(_id_hash(parsed[0]))
        return active

    async def end_sessions_by_sid(self, issuer: str, sid: str) -> int:
        """End every session created from the identity provider's login session `sid` at
        `issuer` (front-channel and back-channel logout); returns how many ended.

        Guarantees: sessions from another issuer with the same sid are untouched. Does not:
        check that the caller is that issuer (the logout route must, e.g. by `iss`)."""
        if not issuer or not sid:
            return 0
        return await self._backend.delete_by_sid(issuer, sid)

    async def end_sessions_of(self, subject: str) -> int:
        """End every session of a person (e.g. deactivated by an administrator)."""
        return await self._backend.delete_by_subject(subject)

    async def end_sessions_for_service(self, service_id: str) -> int:
        """End every session that holds a service unit's keys (e.g. the unit is deactivated)."""
        return await self._backend.delete_by_service(service_id)

    async def close(self) -> None:
        await self._backend.close()


Sessions = NamedDependency[SessionStore]
