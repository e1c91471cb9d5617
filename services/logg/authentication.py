"""Bearer tokens: every request but /healthz and /schema must carry a valid, unused service token.

The middleware verifies the token (shared.tokens.ServiceTokenVerifier: Ed25519 only, auth's key by
`kid`, typ at+jwt, iss/aud/sub/jti/exp/nbf/iat checked, at most five minutes' lifetime) before any
body is read, spends its `jti` in the replay cache (shared.replay: a token works once), and puts
the verified claims on the connection; handlers receive them through the `Caller` dependency.

Which replay cache (`replay_cache_for`): Redis when STAFETT_LOGG_REPLAY_REDIS_URL is set (several
instances, one atomic SET NX); otherwise the `used_access_tokens` table when the database is
PostgreSQL (several instances without Redis: the INSERT under a unique key decides); otherwise,
on SQLite, an in-process map (SQLite means one logg process, so memory is exact and cheaper).
"""

from __future__ import annotations

import base64
import binascii
import functools
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
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.logg.models import Base, UsedAccessTokenRow
from shared.problems import ProblemError
from shared.replay import ReplayCache, ReplayCacheUnavailableError, choose_replay_cache
from shared.tokens import (
    RemoteKeySet,
    ServiceClaims,
    ServiceTokenVerifier,
    SigningKeysUnavailableError,
    TokenError,
    TokenReplayedError,
)

__all__ = [
    "BearerTokenMiddleware",
    "Caller",
    "LazyRemoteKeySource",
    "LazyReplayCache",
    "provide_caller",
    "replay_cache_for",
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


class LazyReplayCache:
    """The replay cache, set in the app's lifespan once the database (or Redis) is open. Before
    that, and after, it refuses every token (ReplayCacheUnavailableError): fail closed."""

    def __init__(self) -> None:
        self._cache: ReplayCache | None = None

    def attach(self, cache: ReplayCache) -> None:
        self._cache = cache

    def detach(self) -> None:
        self._cache = None

    async def first_use(self, jti: str, expires_at: int) -> bool:
        if self._cache is None:
            raise ReplayCacheUnavailableError("the replay cache is not open")
        return await self._cache.first_use(jti, expires_at)


def replay_cache_for(*, database_url: str, engine: AsyncEngine, redis: Redis | None) -> ReplayCache:
    """logg's replay cache, chosen as the module docstring says."""
    return choose_replay_cache(
        namespace="stafett-logg",
        database_url=database_url,
        redis=redis,
        engine=engine,
        table=Base.metadata.tables[UsedAccessTokenRow.__tablename__],
    )


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, *, verifier: ServiceTokenVerifier, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude, exclude_http_methods=[])
        self._verifier = verifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Accept the request only with an authentic, current token for logg, presented for the
        first time, whose `sign_key` is an Ed25519 public key. A replayed token is a 401 problem
        `token-replayed`; any other bad token a 401 `unauthenticated`, both with a Bearer
        challenge. When auth's keys or the replay cache cannot be reached: 503, fail closed.
        The token itself is never logged."""
        header = connection.headers.get("authorization")
        if header is None:
            raise NotAuthorizedException("Send an Authorization: Bearer token", headers=_CHALLENGE)
        scheme, _, unverified_token = header.partition(" ")
        if scheme.lower() != "bearer" or not unverified_token.strip():
            raise NotAuthorizedException("Use the Bearer scheme", headers=_CHALLENGE)
        try:
            claims = await self._verifier.verify(unverified_token.strip())
            sign_key_of(claims)
        except TokenReplayedError as error:
            raise ProblemError(
                401,
                "token-replayed",
                "This access token has already been used",
                "Each request needs a fresh token",
                headers=_INVALID_CHALLENGE,
            ) from error
        except (SigningKeysUnavailableError, httpx.HTTPError) as error:
            _log.warning("cannot fetch auth's signing keys: %s", type(error).__name__)
            raise ProblemError(
                503, "keys-unavailable", "The token cannot be checked right now; try again"
            ) from error
        except ReplayCacheUnavailableError as error:
            raise ProblemError(
                503, "replay-cache-unavailable", "The token cannot be checked right now; try again"
            ) from error
        except TokenError as error:
            raise NotAuthorizedException(str(error), headers=_INVALID_CHALLENGE) from error
        return AuthenticationResult(user=claims, auth=None)


def sign_key_of(claims: ServiceClaims) -> ed25519.Ed25519PublicKey:
    """The caller's Ed25519 public key from the `sign_key` claim (base64url, no padding, raw
    32 bytes), as auth vouches for it. Raises TokenError if the claim is not such a key."""
    return _public_key(claims.sign_key)


@functools.lru_cache(maxsize=4096)
def _public_key(raw: str) -> ed25519.Ed25519PublicKey:
    """Cached: a person's key comes back in every token (a write asks for it twice), and
    decoding it cost ~1.5 % of a write. Refusals raise, and are not cached."""
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
