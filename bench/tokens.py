"""Service tokens for the benchmark, minted fast and in bulk before each run.

The benchmark plays auth's token issuer with its own Ed25519 key. It signs the compact JWS with
`cryptography` directly (about ten times faster than joserfc), so that a pool of a few thousand
unique tokens costs well under a second. The claims are those of tests.logg.helpers.TokenMinter.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.logg.helpers import AUDIENCE, Actor

__all__ = ["BenchMinter"]

_LIFETIME = 240  # seconds; below logg's 300 s maximum, above any one run


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class BenchMinter:
    """An Ed25519 signing key, its public JWKS, and tokens with a fresh `jti` each."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.kid = f"bench-{secrets.token_hex(4)}"
        self._key = ed25519.Ed25519PrivateKey.generate()
        header = {"alg": "Ed25519", "kid": self.kid, "typ": "at+jwt"}
        self._header = _b64url(json.dumps(header, separators=(",", ":")).encode())

    def jwks(self) -> dict[str, Any]:
        public = self._key.public_key().public_bytes_raw()
        key = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(public), "kid": self.kid}
        return {"keys": [{**key, "use": "sig", "alg": "Ed25519"}]}

    def token(self, actor: Actor) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": actor.subject,
            "aud": AUDIENCE,
            "role": actor.role,
            "acr": "idporten-loa-high",
            "sign_key": actor.sign_key_claim,
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "nbf": now,
            "exp": now + _LIFETIME,
        }
        if actor.service is not None:
            claims["service"] = actor.service
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{self._header}.{payload}"
        signature = self._key.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64url(signature)}"

    def tokens(self, actor: Actor, count: int) -> list[str]:
        return [self.token(actor) for _ in range(count)]
