"""The notifier's own service token for logg's notification feed.

auth is the token issuer, so the notifier signs its token itself with the current signing key
(services.auth.signing_keys), like any service token, but for the audience only the feed
accepts (`NOTIFIER_AUDIENCE`; logg's other routes verify stafett-logg and refuse it) and the
subject `NOTIFIER_SUBJECT`. It acts for no service unit and is no administrator. The `role`
claim says staff only because the shared claim type knows no other role; logg tells the notifier
apart by audience and subject (services.logg.access). A fresh token per request: logg spends each
`jti` once. The `sign_key` is a throwaway key: the notifier signs nothing.
"""

from __future__ import annotations

import base64
import secrets
import time

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt

from services.auth.signing_keys import SigningKeyRing
from shared.tokens import ACCESS_TOKEN_TYP, NOTIFIER_AUDIENCE, NOTIFIER_SUBJECT, SERVICE_TOKEN_ALG

__all__ = ["NOTIFIER_AUDIENCE", "NOTIFIER_SUBJECT", "NOTIFIER_TOKEN_LIFETIME", "NotifierTokens"]

NOTIFIER_TOKEN_LIFETIME = 60


class NotifierTokens:
    def __init__(self, keys: SigningKeyRing, *, issuer: str) -> None:
        self._keys = keys
        self._issuer = issuer
        public = ed25519.Ed25519PrivateKey.generate().public_key()
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._sign_key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    async def __call__(self) -> str:
        """A token for one call to logg's feed, valid NOTIFIER_TOKEN_LIFETIME seconds."""
        signing_key = await self._keys.signing_key()
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "sub": NOTIFIER_SUBJECT,
            "aud": NOTIFIER_AUDIENCE,
            "role": "staff",
            "acr": "system",
            "sign_key": self._sign_key,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + NOTIFIER_TOKEN_LIFETIME,
            "admin": False,
        }
        header = {"alg": SERVICE_TOKEN_ALG, "kid": signing_key.kid, "typ": ACCESS_TOKEN_TYP}
        return jwt.encode(header, claims, signing_key, algorithms=[SERVICE_TOKEN_ALG])
