"""Checking the short-lived service access tokens that auth issues (RFC 9068-style JWTs).

Every verification option is spelled out: the algorithm is pinned to Ed25519 (RFC 8037 and the
fully-specified name from RFC 9864), the key must come from auth's published JWKS by `kid`, and
`iss`, `aud`, `sub`, `jti`, `exp`, `nbf` and `iat` are required and checked, the header's `typ` must
be `at+jwt` (RFC 9068 §4), and the token may live at most `MAX_TOKEN_LIFETIME` seconds
(`exp - iat`). With a replay cache (shared.replay) each `jti` is accepted once. Anything else is
refused with `TokenError`, whose message is safe to show to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.util import urlsafe_b64decode

from shared.replay import ReplayCache

__all__ = [
    "ACCESS_TOKEN_TYP",
    "MAX_TOKEN_LIFETIME",
    "NOTIFIER_AUDIENCE",
    "NOTIFIER_SUBJECT",
    "SERVICE_TOKEN_ALG",
    "TOKEN_LEEWAY",
    "KeySetSource",
    "RemoteKeySet",
    "ServiceClaims",
    "ServiceTokenVerifier",
    "SigningKeysUnavailableError",
    "TokenError",
    "TokenReplayedError",
    "UnverifiedToken",
]

SERVICE_TOKEN_ALG = "Ed25519"  # noqa: S105 - an algorithm name, not a secret
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type (RFC 9068 §2.1), not a secret
MAX_TOKEN_LIFETIME = 300
TOKEN_LEEWAY = 30  # seconds of clock skew allowed on exp, nbf and iat
# auth's e-mail notifier, a system caller: its tokens carry an audience of their own, which only
# logg's notification feed accepts, and this subject (services.logg.access and .feed,
# services.auth.notifications).
NOTIFIER_AUDIENCE = "stafett-logg-notifier"
NOTIFIER_SUBJECT = "stafett-notifier"
_MAX_JTI_LENGTH = 128
# The header auth writes (alg, kid, typ). A token whose header has any other member (crit, b64,
# jku, x5c, ...) skips the fast path and gets joserfc's full header handling.
_PLAIN_HEADER = frozenset({"alg", "kid", "typ"})

UnverifiedToken = str
Role = Literal["guardian", "staff"]


class TokenError(Exception):
    """The token is missing, malformed, expired, for another audience or not signed by auth."""


class TokenReplayedError(TokenError):
    """The token is authentic and current, but its `jti` has been used before."""


class SigningKeysUnavailableError(TokenError):
    """auth's public keys could not be fetched: no token can be checked (a 503, not a 401)."""


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
    """auth's JWKS, fetched over HTTP and cached. It is fetched again when an unknown `kid` shows
    up (at most once per `min_refetch_seconds`, so a flood of bogus kids cannot hammer auth) and
    when the cached copy is older than `max_age_seconds`, so a key auth has retired stops being
    accepted within that time. A failed fetch raises SigningKeysUnavailableError: fail closed."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        min_refetch_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._min_refetch = min_refetch_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    async def key_set(self, kid: str | None) -> KeySet:
        now = self._clock()
        age = now - self._fetched_at
        known = self._keys is not None and kid is not None and _has_kid(self._keys, kid)
        stale = self._keys is None or age >= self._max_age
        if stale or (not known and age >= self._min_refetch):
            try:
                response = await self._client.get(self._url, timeout=5.0)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as error:
                # Fail closed: without auth's current keys no token can be accepted.
                self._keys = None
                raise SigningKeysUnavailableError(
                    "auth's signing keys could not be fetched"
                ) from error
            self._fetched_at = now
        if self._keys is None:  # pragma: no cover - raise_for_status above
            raise SigningKeysUnavailableError("no signing keys available")
        return self._keys


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


KeySetSource = Callable[[str | None], Awaitable[KeySet]]


def _now() -> int:
    return int(time.time())


class ServiceTokenVerifier:
    """Verifies bearer tokens meant for one audience (RFC 9068 §4, narrowed)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        key_source: KeySetSource,
        replay_cache: ReplayCache | None,
        clock: Callable[[], int] = _now,
    ) -> None:
        """`replay_cache=None` must be passed explicitly and means: a token may be used again
        while it is valid. Services that accept calls pass a shared.replay cache."""
        self._issuer = issuer
        self._audience = audience
        self._key_source = key_source
        self._replay_cache = replay_cache
        self._clock = clock
        self._algorithm = jws.JWSRegistry(algorithms=[SERVICE_TOKEN_ALG]).get_alg(SERVICE_TOKEN_ALG)
        self._registry = jwt.JWTClaimsRegistry(
            now=clock,
            leeway=TOKEN_LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
            nbf={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )

    async def verify(self, unverified_token: UnverifiedToken) -> ServiceClaims:
        """Return the claims if and only if the token is authentic, current, for us, and (with
        a replay cache) presented for the first time.

        Checked, in this order: compact JWS; header `alg` is exactly Ed25519 (so `none`, HS256
        and every other algorithm are refused before any key is touched); header `typ` is
        at+jwt; header `kid` names a key in auth's JWKS; the signature; `iss` and `aud` equal
        ours (a single audience string: a token for several audiences is refused); `sub`, `jti`,
        `exp`, `nbf`, `iat` present; `exp` not passed and `nbf`/`iat` not in the future, each
        with TOKEN_LEEWAY seconds of skew; `exp - iat` at most MAX_TOKEN_LIFETIME; the claim
        types of ServiceClaims; `admin` only for staff; then the jti is spent in the replay cache.

        Raises TokenError (TokenReplayedError for a replay, SigningKeysUnavailableError when
        auth's keys cannot be fetched). Raises shared.replay.ReplayCacheUnavailableError when
        the replay cache cannot answer: callers must refuse the request. Does not check `acr`,
        `role` or `service` against any policy: that is the caller's job."""
        try:
            compact = jws.extract_compact(unverified_token.encode("ascii"))
        except (JoseError, ValueError, UnicodeEncodeError) as error:
            raise TokenError("the token is not a compact JWS") from error
        header = compact.protected
        if header.get("alg") != SERVICE_TOKEN_ALG:
            raise TokenError(f"the token must be signed with {SERVICE_TOKEN_ALG}")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in {
            ACCESS_TOKEN_TYP,
            f"application/{ACCESS_TOKEN_TYP}",
        }:
            raise TokenError(f"the token's typ must be {ACCESS_TOKEN_TYP}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("the token names no signing key")
        keys = await self._key_source(kid)
        payload = self._fast_verified_payload(compact, keys, kid)
        if payload is None:
            # joserfc's whole path: it refuses what the fast path did not accept, with its reason.
            try:
                payload = jwt.decode(unverified_token, keys, algorithms=[SERVICE_TOKEN_ALG]).claims
            except JoseError as error:
                raise TokenError(f"the token was refused: {error.error}") from error
            except ValueError as error:
                raise TokenError("the token's claims are malformed") from error
        try:
            self._registry.validate(payload)
        except JoseError as error:
            raise TokenError(f"the token was refused: {error.error}") from error
        except ValueError as error:  # a claim of the wrong type, e.g. a string `exp`
            raise TokenError("the token's claims are malformed") from error
        try:
            claims = msgspec.convert(payload, ServiceClaims)
        except msgspec.ValidationError as error:
            raise TokenError(f"the token's claims are incomplete: {error}") from error
        if claims.exp - claims.iat > MAX_TOKEN_LIFETIME or claims.exp <= claims.nbf:
            raise TokenError("the token lives longer than allowed")
        if not 0 < len(claims.jti) <= _MAX_JTI_LENGTH:
            raise TokenError("the token's jti is not usable")
        if claims.admin and claims.role != "staff":
            raise TokenError("only staff can be administrators")
        if self._replay_cache is not None and not await self._replay_cache.first_use(
            claims.jti, claims.exp + TOKEN_LEEWAY
        ):
            raise TokenReplayedError("the token has already been used")
        return claims

    def _fast_verified_payload(
        self, compact: jws.CompactSignature, keys: KeySet, kid: str
    ) -> dict[str, Any] | None:
        """The token's claims if its signature verifies, else None; `jwt.decode` then decides.

        Why: `jwt.decode` parses the token a second time, builds an algorithm registry and
        looks the key up through several layers on every call: together more work than the
        Ed25519 verification itself on logg's hot path (docs/performance.md). This does what it
        does for a token as auth writes it, with joserfc's own pieces where they
        decide anything: `compact` is joserfc's strict parse (sizes, base64url without padding,
        JSON header with `alg`), whose `alg`, `typ` and `kid` `verify` has checked; the header
        has no other member (so no `crit` or unencoded payload); the key is the one
        `guess_key` would pick (`KeySet.get_by_kid` with alg and use=sig) and passes the same
        `check_key` (kty OKP, curve Ed25519, use, alg); the signature segment is decoded by
        joserfc's strict base64url; the payload must be a JSON object. It only ever accepts:
        on any doubt it answers None and the token takes the full joserfc path, so a token is
        refused exactly as before, with the same reason."""
        if not compact.protected.keys() <= _PLAIN_HEADER or not isinstance(keys, KeySet):
            return None
        try:
            key = keys.get_by_kid(kid, {"alg": SERVICE_TOKEN_ALG, "use": "sig"})
            self._algorithm.check_key(key)
            public = key.get_op_key("verify")
            signature = urlsafe_b64decode(compact.segments["signature"])
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        if not isinstance(public, ed25519.Ed25519PublicKey):
            return None
        signing_input = compact.segments["header"] + b"." + compact.segments["payload"]
        try:
            public.verify(signature, signing_input)
        except InvalidSignature:
            return None
        try:
            claims = msgspec.json.decode(compact.payload)
        except (TypeError, ValueError):  # msgspec.DecodeError is a ValueError
            return None
        return claims if isinstance(claims, dict) else None
