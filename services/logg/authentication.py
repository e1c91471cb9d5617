"""Bearer tokens: every request but /healthz and /schema must carry a valid service token.

The middleware verifies the token (shared.tokens.ServiceTokenVerifier: Ed25519 only, auth's key by
`kid`, iss/aud/exp/nbf/iat checked) before any body is read, and puts the verified claims on the
connection; handlers receive them through the `Caller` dependency.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc.jwk import KeySet
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.types import ASGIApp

from shared.problems import ProblemError
from shared.tokens import RemoteKeySet, ServiceClaims, ServiceTokenVerifier, TokenError

__all__ = [
    "BearerTokenMiddleware",
    "Caller",
    "LazyRemoteKeySource",
    "provide_caller",
    "sign_key_of",
]

_log = logging.getLogger("stafett.logg.authentication")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="stafett-logg"'}
_INVALID_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="stafett-logg", error="invalid_token"'}


class LazyRemoteKeySource:
    """auth's JWKS over the httpx client the app opens in its lifespan (set by `attach`)."""

    def __init__(self) -> None:
        self._remote: RemoteKeySet | None = None

    def attach(self, url: str, client: httpx.AsyncClient) -> None:
        self._remote = RemoteKeySet(url, client)

    def detach(self) -> None:
        self._remote = None

    async def __call__(self, kid: str | None) -> KeySet:
        if self._remote is None:
            raise TokenError("the signing keys are not available yet")
        return await self._remote.key_set(kid)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, *, verifier: ServiceTokenVerifier, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude, exclude_http_methods=[])
        self._verifier = verifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Accept the request only with an authentic, current token for logg whose `sign_key`
        is an Ed25519 public key. Any failure is a 401 with a Bearer challenge; the token itself
        is never logged."""
        header = connection.headers.get("authorization")
        if header is None:
            raise NotAuthorizedException("Send an Authorization: Bearer token", headers=_CHALLENGE)
        scheme, _, unverified_token = header.partition(" ")
        if scheme.lower() != "bearer" or not unverified_token.strip():
            raise NotAuthorizedException("Use the Bearer scheme", headers=_CHALLENGE)
        try:
            claims = await self._verifier.verify(unverified_token.strip())
            sign_key_of(claims)
        except TokenError as error:
            raise NotAuthorizedException(str(error), headers=_INVALID_CHALLENGE) from error
        except (httpx.HTTPError, ValueError) as error:
            _log.warning("cannot fetch auth's signing keys: %s", type(error).__name__)
            raise ProblemError(
                503, "keys-unavailable", "The token cannot be checked right now; try again"
            ) from error
        return AuthenticationResult(user=claims, auth=None)


def sign_key_of(claims: ServiceClaims) -> ed25519.Ed25519PublicKey:
    """The caller's Ed25519 public key from the `sign_key` claim (base64url, no padding, raw
    32 bytes), as auth vouches for it. Raises TokenError if the claim is not such a key."""
    raw = claims.sign_key
    if "=" in raw:
        raise TokenError("the token's sign_key must be base64url without padding")
    try:
        key_bytes = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise TokenError("the token's sign_key is not base64url") from error
    if len(key_bytes) != 32:
        raise TokenError("the token's sign_key is not an Ed25519 public key")
    return ed25519.Ed25519PublicKey.from_public_bytes(key_bytes)


def provide_caller(request: Request[Any, Any, Any]) -> ServiceClaims:
    """The verified claims the middleware put on the request."""
    claims = request.scope.get("user")
    if not isinstance(claims, ServiceClaims):  # a route excluded from auth asked for a caller
        raise NotAuthorizedException("Send an Authorization: Bearer token", headers=_CHALLENGE)
    return claims


Caller = NamedDependency[ServiceClaims]
