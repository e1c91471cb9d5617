"""Service tokens: short-lived, audience-bound Ed25519 JWTs (RFC 9068 shape) that auth issues.

Each token is for exactly one audience (stafett-logg or stafett-auth), lives
`TOKEN_LIFETIME` seconds (never more than `shared.tokens.MAX_TOKEN_LIFETIME`), carries exactly the
claims of `shared.tokens.ServiceClaims` and a unique `jti`, and is signed by the key that signs
now in services.auth.signing_keys (rotated with overlap). The JWKS lists every key a current
token may be signed with, and the next one ahead of its use.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException

from services.auth.settings import AUTH_AUDIENCE, LOGG_AUDIENCE
from services.auth.signing_keys import JWKS_MAX_AGE_SECONDS, SigningKeyRing
from shared.problems import ProblemError
from shared.replay import ReplayCache, ReplayCacheUnavailableError
from shared.tokens import (
    ACCESS_TOKEN_TYP,
    MAX_TOKEN_LIFETIME,
    SERVICE_TOKEN_ALG,
    ServiceClaims,
    ServiceTokenVerifier,
    TokenError,
    TokenReplayedError,
)

__all__ = [
    "JWKS_PATH",
    "TOKEN_LIFETIME",
    "AuthVerifier",
    "Caller",
    "ServiceTokenIssuer",
    "TokenIssuer",
    "bearer_claims",
    "jwks",
]

TOKEN_LIFETIME = min(300, MAX_TOKEN_LIFETIME)
JWKS_PATH = "/.well-known/jwks.json"
_AUDIENCES = frozenset({AUTH_AUDIENCE, LOGG_AUDIENCE})
_ROLES = frozenset({"guardian", "staff"})


class ServiceTokenIssuer:
    """Signs service tokens with the current key of a SigningKeyRing."""

    def __init__(
        self,
        keys: SigningKeyRing,
        *,
        issuer: str,
        lifetime: int = TOKEN_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < lifetime <= MAX_TOKEN_LIFETIME:
            raise ValueError(f"a service token lives at most {MAX_TOKEN_LIFETIME} seconds")
        self._keys = keys
        self._issuer = issuer
        self._lifetime = lifetime
        self._clock = clock

    async def load_keys(self) -> None:
        """Load the signing keys at start, creating the first one or rotating when due."""
        await self._keys.refresh(force=True)

    async def public_jwks(self) -> dict[str, Any]:
        return dict((await self._keys.public_keys()).as_dict(private=False))

    async def key_source(self, _kid: str | None) -> KeySet:
        """A `shared.tokens.KeySetSource` over auth's own published keys (no HTTP round trip)."""
        return await self._keys.public_keys()

    def verifier(self, audience: str, *, replay_cache: ReplayCache | None) -> ServiceTokenVerifier:
        return ServiceTokenVerifier(
            issuer=self._issuer,
            audience=audience,
            key_source=self.key_source,
            replay_cache=replay_cache,
            clock=lambda: int(self._clock()),
        )

    async def issue(
        self,
        *,
        subject: str,
        audience: str,
        role: str,
        acr: str,
        sign_public: bytes,
        service: str | None,
        admin: bool = False,
    ) -> tuple[str, int]:
        """Sign a service token for exactly one audience; returns it and its lifetime (s).

        Guarantees: `aud` is the single string `audience` (one of stafett-logg, stafett-auth),
        `exp - iat` is the configured lifetime (at most MAX_TOKEN_LIFETIME), `jti` is 128 random
        bits, `admin` is true only for staff. Does not check that the subject may act: the
        caller (the token exchange) has established that from the session."""
        if audience not in _AUDIENCES:
            raise ValueError("a service token is for stafett-logg or stafett-auth")
        if role not in _ROLES:
            raise ValueError("a service token's role is guardian or staff")
        if len(sign_public) != 32:
            raise ValueError("sign_public must be a raw Ed25519 public key")
        signing_key = await self._keys.signing_key()
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": audience,
            "role": role,
            "acr": acr,
            "sign_key": base64.urlsafe_b64encode(sign_public).rstrip(b"=").decode(),
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
            "admin": admin and role == "staff",
        }
        if service is not None:
            claims["service"] = service
        header = {"alg": SERVICE_TOKEN_ALG, "kid": signing_key.kid, "typ": ACCESS_TOKEN_TYP}
        token = jwt.encode(header, claims, signing_key, algorithms=[SERVICE_TOKEN_ALG])
        return token, self._lifetime


TokenIssuer = NamedDependency[ServiceTokenIssuer]
AuthVerifier = NamedDependency[ServiceTokenVerifier]
Caller = NamedDependency[ServiceClaims]


@get(JWKS_PATH, cache_control=None)
async def jwks(token_issuer: TokenIssuer) -> Response[dict[str, Any]]:
    """The public keys that verify auth's service tokens: the next key (published ahead of its
    use), the signing key, and keys whose tokens may still be current. Cacheable for
    JWKS_MAX_AGE_SECONDS, which the rotation's publish-ahead time exceeds (the security-header
    hook lets this path keep its own Cache-Control: services.auth.security_headers)."""
    return Response(
        await token_issuer.public_jwks(),
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
    )


async def bearer_claims(
    request: Request[Any, Any, Any], auth_verifier: AuthVerifier
) -> ServiceClaims:
    """The verified claims of the request's bearer token (audience stafett-auth), or 401:
    problem `token-replayed` for a token used before, `unauthenticated` otherwise; 503 when the
    replay cache cannot answer (fail closed). The token is never logged."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException(
            "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        return await auth_verifier.verify(token.strip())
    except TokenReplayedError as error:
        raise ProblemError(
            401,
            "token-replayed",
            "This access token has already been used",
            "Each request needs a fresh token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from error
    except ReplayCacheUnavailableError as error:
        raise ProblemError(
            503, "replay-cache-unavailable", "The token cannot be checked right now; try again"
        ) from error
    except TokenError as error:
        raise NotAuthorizedException(
            str(error), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from error
