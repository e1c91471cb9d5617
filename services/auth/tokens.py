"""Service tokens: short-lived, audience-bound EdDSA JWTs that auth issues and publishes keys for.

The Ed25519 signing key is generated once and kept in the auth database, sealed under the KEK.
Tokens carry exactly the claims of `shared.tokens.ServiceClaims` and live at most
`shared.tokens.MAX_TOKEN_LIFETIME` seconds.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from services.auth.custody import KeyCustody, owner_aad
from shared.tokens import (
    MAX_TOKEN_LIFETIME,
    SERVICE_TOKEN_ALG,
    ServiceClaims,
    ServiceTokenVerifier,
    TokenError,
)

__all__ = [
    "TOKEN_LIFETIME",
    "AuthVerifier",
    "Caller",
    "ServiceTokenIssuer",
    "TokenIssuer",
    "bearer_claims",
    "jwks",
]

TOKEN_LIFETIME = min(300, MAX_TOKEN_LIFETIME)


class ServiceTokenIssuer:
    """Holds auth's signing keys (loaded at start) and signs service tokens."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        custody: KeyCustody,
        *,
        issuer: str,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._custody = custody
        self._issuer = issuer
        self._signing_key: OKPKey | None = None
        self._public_keys = KeySet([])

    async def load_keys(self) -> None:
        """Load the signing keys, creating the first one if there is none. Safe when several
        instances start at once: all of them end up signing with the oldest key."""
        async with self._sessionmaker() as db:
            rows = await models.list_signing_keys(db)
        if not rows:
            key = OKPKey.generate_key(
                "Ed25519", parameters={"kid": secrets.token_urlsafe(12), "use": "sig"}
            )
            kid = str(key.kid)
            async with self._sessionmaker() as db:
                db.add(
                    models.SigningKeyRow(
                        kid=kid,
                        public_jwk=json.dumps(key.as_dict(private=False)),
                        sealed_private_key=self._custody.seal(
                            json.dumps(key.as_dict(private=True)).encode(),
                            owner_aad("signing", kid),
                        ),
                        created_at=int(time.time()),
                    )
                )
                try:
                    await db.commit()
                except IntegrityError:  # pragma: no cover - a kid collision is not expected
                    await db.rollback()
            async with self._sessionmaker() as db:
                rows = await models.list_signing_keys(db)
        current = rows[0]
        private = self._custody.unseal(
            current.sealed_private_key, owner_aad("signing", current.kid)
        )
        self._signing_key = OKPKey.import_key(json.loads(private))
        self._public_keys = KeySet([OKPKey.import_key(json.loads(r.public_jwk)) for r in rows])

    def public_jwks(self) -> dict[str, Any]:
        return dict(self._public_keys.as_dict(private=False))

    async def key_source(self, _kid: str | None) -> KeySet:
        """A `shared.tokens.KeySetSource` over auth's own public keys (no HTTP round trip)."""
        return self._public_keys

    def verifier(self, audience: str) -> ServiceTokenVerifier:
        return ServiceTokenVerifier(
            issuer=self._issuer, audience=audience, key_source=self.key_source
        )

    def issue(
        self,
        *,
        subject: str,
        audience: str,
        role: str,
        acr: str,
        sign_public: bytes,
        service: str | None,
    ) -> tuple[str, int]:
        """Sign a service token for one audience; returns the token and its lifetime (s)."""
        if self._signing_key is None:
            raise RuntimeError("the signing keys are not loaded")
        now = int(time.time())
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
            "exp": now + TOKEN_LIFETIME,
        }
        if service is not None:
            claims["service"] = service
        header = {"alg": SERVICE_TOKEN_ALG, "kid": self._signing_key.kid, "typ": "at+jwt"}
        token = jwt.encode(header, claims, self._signing_key, algorithms=[SERVICE_TOKEN_ALG])
        return token, TOKEN_LIFETIME


TokenIssuer = NamedDependency[ServiceTokenIssuer]
AuthVerifier = NamedDependency[ServiceTokenVerifier]
Caller = NamedDependency[ServiceClaims]


@get("/.well-known/jwks.json", cache_control=None)
async def jwks(token_issuer: TokenIssuer) -> dict[str, Any]:
    """The public keys that verify auth's service tokens."""
    return token_issuer.public_jwks()


async def bearer_claims(
    request: Request[Any, Any, Any], auth_verifier: AuthVerifier
) -> ServiceClaims:
    """The verified claims of the request's bearer token (audience stafett-auth), or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException(
            "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        return await auth_verifier.verify(token.strip())
    except TokenError as error:
        raise NotAuthorizedException(
            str(error), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from error
