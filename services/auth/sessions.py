"""Server-side sessions whose secrets only the browser's cookie can open.

The cookie value is `<session id>.<session secret>`, both 32 random bytes in base64url. The row
is keyed by SHA-256 of the id; the person's private keys (and a staff member's service keys) and
the identity provider's ID token are sealed with AES-256-GCM under a key derived (HKDF-SHA256,
RFC 5869) from the secret. The secret is stored nowhere, so the session table alone opens nothing,
and a guessed or stolen id without its secret is worthless.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from shared.crypto.keys import ParticipantKeys

__all__ = ["ActiveSession", "NewSession", "SessionSecrets", "SessionStore", "Sessions"]

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


def _parse_cookie(value: str) -> tuple[bytes, bytes] | None:
    session_id, _, secret = value.partition(".")
    if not _PART.match(session_id) or not _PART.match(secret):
        return None
    return _unb64(session_id), _unb64(secret)


class SessionStore:
    """Creates, opens and ends sessions. Idle limit and absolute limit both apply."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        idle_seconds: int,
        absolute_seconds: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._idle = idle_seconds
        self._absolute = absolute_seconds

    @property
    def absolute_seconds(self) -> int:
        return self._absolute

    async def create(self, new: NewSession, *, replacing: str | None = None) -> str:
        """Store a fresh session and return the cookie value. Each login gets a new id; the
        session named by `replacing` (the browser's old cookie), if any, is ended."""
        session_id = secrets.token_bytes(_TOKEN_BYTES)
        secret = secrets.token_bytes(_TOKEN_BYTES)
        id_hash = _id_hash(session_id)
        sealed_payload = msgspec.msgpack.encode(
            SessionSecrets(
                new.person_keys.to_bytes(),
                new.service_keys.to_bytes() if new.service_keys is not None else None,
                new.id_token,
            )
        )
        nonce = os.urandom(12)
        sealed = nonce + _aead(secret, id_hash).encrypt(
            nonce, sealed_payload, _LABEL + id_hash.encode()
        )
        now = int(time.time())
        async with self._sessionmaker() as db:
            await models.delete_expired(db, now, self._idle)
            old = _parse_cookie(replacing) if replacing else None
            if old is not None:
                await models.delete_session(db, _id_hash(old[0]))
            db.add(
                models.SessionRow(
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
                )
            )
            await db.commit()
        return f"{_b64(session_id)}.{_b64(secret)}"

    async def open(self, cookie_value: str) -> ActiveSession | None:
        """The session if the cookie is authentic (its secret opens the sealed part) and the
        session is within both its idle and absolute limits; else None. Marks it as used."""
        parsed = _parse_cookie(cookie_value)
        if parsed is None:
            return None
        session_id, secret = parsed
        id_hash = _id_hash(session_id)
        now = int(time.time())
        async with self._sessionmaker() as db:
            row = await models.get_session(db, id_hash)
            if row is None:
                return None
            if row.expires_at <= now or row.last_seen_at + self._idle <= now:
                await models.delete_session(db, id_hash)
                await db.commit()
                return None
            try:
                nonce, body = row.sealed_secrets[:12], row.sealed_secrets[12:]
                payload = _aead(secret, id_hash).decrypt(nonce, body, _LABEL + id_hash.encode())
            except (InvalidTag, ValueError):
                return None
            if now - row.last_seen_at >= _TOUCH_INTERVAL:
                await models.touch_session(db, id_hash, now)
                await db.commit()
            return ActiveSession(
                subject=row.subject,
                role=row.role,
                service_id=row.service_id,
                acr=row.acr,
                idp_issuer=row.idp_issuer,
                expires_at=min(row.expires_at, now + self._idle),
                secrets=msgspec.msgpack.decode(payload, type=SessionSecrets),
            )

    async def end(self, cookie_value: str) -> ActiveSession | None:
        """End the session; returns what it held (for RP-initiated logout) if it was valid."""
        active = await self.open(cookie_value)
        parsed = _parse_cookie(cookie_value)
        if active is not None and parsed is not None:
            async with self._sessionmaker() as db:
                await models.delete_session(db, _id_hash(parsed[0]))
                await db.commit()
        return active


Sessions = NamedDependency[SessionStore]
