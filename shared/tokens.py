"""Checking the short-lived service access tokens that auth issues (RFC 9068-style JWTs).

Every verification option is spelled out: the algorithm is pinned to Ed25519 (RFC 8037 and the
fully-specified name from RFC 9864), the key must come from auth's published JWKS by `kid`, and
`iss`, `aud`, `exp`, `nbf` and `iat` are required and checked. Anything else is refused with
`TokenError`, whose message is safe to show to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

import httpx
import msgspec
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "SERVICE_TOKEN_ALG",
    "RemoteKeySet",
    "ServiceClaims",
    "ServiceTokenVerifier",
    "TokenError",
    "UnverifiedToken",
]

SERVICE_TOKEN_ALG = "Ed25519"  # noqa: S105 - an algorithm name, not a secret
MAX_TOKEN_LIFETIME = 300
_LEEWAY = 30

UnverifiedToken = str
Role = Literal["guardian", "staff"]


class TokenError(Exception):
    """The token is missing, malformed, expired, for another audience or not signed by auth."""


class ServiceClaims(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The verified claims of a service token: who the request is for, as auth vouches."""

    iss: str
    sub: str  # the stable internal subject; never a fødselsnummer
    aud: str
    role: Role
    acr: str
    sign_key: str  # base64url raw Ed25519 public key of `sub`, vouched for by auth
    jti: str
    iat: int
    nbf: int
    exp: int
    service: str | None = None  # the service unit a staff member acts for
    admin: bool = False  # a municipal administrator (staff only): keeps services and staff


class RemoteKeySet:
    """auth's JWKS, fetched over HTTP, cached, and fetched again when an unknown `kid` shows up
    (at most once per `min_refetch_seconds`, so a flood of bogus kids cannot hammer auth)."""

    def __init__(
        self, url: str, client: httpx.AsyncClient, *, min_refetch_seconds: float = 10.0
    ) -> None:
        self._url = url
        self._client = client
        self._min_refetch = min_refetch_seconds
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    async def key_set(self, kid: str | None) -> KeySet:
        now = time.monotonic()
        known = self._keys is not None and kid is not None and _has_kid(self._keys, kid)
        if not known and (self._keys is None or now - self._fetched_at >= self._min_refetch):
            try:
                response = await self._client.get(self._url, timeout=5.0)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as error:
                # Fail closed: without auth's keys no token can be accepted.
                raise TokenError("auth's signing keys could not be fetched") from error
            self._fetched_at = now
        if self._keys is None:  # pragma: no cover - raise_for_status above
            raise TokenError("no signing keys available")
        return self._keys


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


KeySetSource = Callable[[str | None], Awaitable[KeySet]]


class ServiceTokenVerifier:
    """Verifies bearer tokens meant for one audience."""

    def __init__(self, *, issuer: str, audience: str, key_source: KeySetSource) -> None:
        self._issuer = issuer
        self._audience = audience
        self._key_source = key_source
        self._registry = jwt.JWTClaimsRegistry(
            leeway=_LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
            nbf={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )

    async def verify(self, unverified_token: UnverifiedToken) -> ServiceClaims:
        """Return the claims if and only if the token is authentic, current and for us."""
        try:
            header = jws.extract_compact(unverified_token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeEncodeError) as error:
            raise TokenError("the token is not a compact JWS") from error
        if header.get("alg") != SERVICE_TOKEN_ALG:
            raise TokenError(f"the token must be signed with {SERVICE_TOKEN_ALG}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("the token names no signing key")
        keys = await self._key_source(kid)
        try:
            token = jwt.decode(unverified_token, keys, algorithms=[SERVICE_TOKEN_ALG])
            self._registry.validate(token.claims)
        except JoseError as error:
            raise TokenError(f"the token was refused: {error.error}") from error
        claims = token.claims
        if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME:
            raise TokenError("the token lives longer than allowed")
        try:
            return msgspec.convert(claims, ServiceClaims)
        except msgspec.ValidationError as error:
            raise TokenError(f"the token's claims are incomplete: {error}") from error
