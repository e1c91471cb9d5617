"""Authenticating the portal as an OAuth client with `private_key_jwt` (RFC 7523, RFC 7521).

The portal signs a short JWT with its Ed25519 key; auth checks it against the portal's public JWKS
(from a file, read when first needed and again when the file changes). Guarantees on success: the
assertion is signed by a key in that JWKS with alg Ed25519, iss = sub = "stafett-portal", aud names
auth, it is unexpired and expires at most two minutes ahead, and its jti was never seen before
(remembered in the database until it expires, so replay fails on every instance).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from litestar.di import NamedDependency
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from shared.keyfiles import load_public_jwks
from shared.settings import SettingsError

__all__ = ["CLIENT_ASSERTION_TYPE", "ClientAuthError", "ClientAuthenticator", "Clients"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALG = "Ed25519"
_MAX_AHEAD = 120
_LEEWAY = 10
_MAX_ASSERTION_LEN = 8192


class ClientAuthError(Exception):
    """The client could not be authenticated. The message is safe to return."""


class ClientAuthenticator:
    """Checks the client assertion of one registered client (the portal)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        client_id: str,
        jwks_file: Path,
        audiences: list[str],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._client_id = client_id
        self._jwks_file = jwks_file
        self._audiences = audiences
        self._keys: KeySet | None = None
        self._keys_mtime: float | None = None

    def _key_set(self) -> KeySet:
        try:
            mtime = self._jwks_file.stat().st_mtime
        except OSError as error:
            raise ClientAuthError("no client is registered") from error
        if self._keys is None or mtime != self._keys_mtime:
            try:
                self._keys = load_public_jwks(self._jwks_file)
            except SettingsError as error:
                raise ClientAuthError("no client is registered") from error
            self._keys_mtime = mtime
        return self._keys

    async def authenticate(self, form: Mapping[str, str]) -> str:
        """Return the client id if the form's client assertion is valid; else ClientAuthError."""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise ClientAuthError("client_assertion_type must be jwt-bearer (RFC 7523)")
        unverified_assertion = form.get("client_assertion", "")
        if not unverified_assertion or len(unverified_assertion) > _MAX_ASSERTION_LEN:
            raise ClientAuthError("client_assertion is missing")
        if form.get("client_id") not in (None, self._client_id):
            raise ClientAuthError("unknown client")
        try:
            header = jws.extract_compact(unverified_assertion.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeEncodeError) as error:
            raise ClientAuthError("client_assertion is not a JWT") from error
        if header.get("alg") != _ALG:
            raise ClientAuthError(f"client_assertion must be signed with {_ALG}")
        now = int(time.time())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=_LEEWAY,
            iss={"essential": True, "value": self._client_id},
            sub={"essential": True, "value": self._client_id},
            aud={"essential": True, "values": self._audiences},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            token = jwt.decode(unverified_assertion, self._key_set(), algorithms=[_ALG])
            registry.validate(token.claims)
        except JoseError as error:
            raise ClientAuthError("client_assertion was refused") from error
        exp, jti = token.claims["exp"], token.claims["jti"]
        if not isinstance(exp, int) or exp > now + _MAX_AHEAD + _LEEWAY:
            raise ClientAuthError("client_assertion lives too long")
        if not isinstance(jti, str) or len(jti) > 256:
            raise ClientAuthError("client_assertion has no usable jti")
        await self._remember(jti, exp)
        return self._client_id

    async def _remember(self, jti: str, exp: int) -> None:
        jti_hash = hashlib.sha256(f"{self._client_id}\x00{jti}".encode()).hexdigest()
        async with self._sessionmaker() as db:
            db.add(models.UsedAssertionRow(jti_hash=jti_hash, expires_at=exp + _LEEWAY))
            try:
                await db.commit()
            except IntegrityError as error:
                await db.rollback()
                raise ClientAuthError("client_assertion was already used") from error


Clients = NamedDependency[ClientAuthenticator]
