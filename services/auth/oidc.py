"""The OpenID Connect relying party: the same code talks to ID-porten, Ansattporten and the
built-in test IdP; only the configuration differs.

Authorization code flow with PKCE S256 (RFC 7636), `state`, `nonce`, pushed authorization requests
(RFC 9126) whenever discovery offers them, the `iss` response parameter checked (RFC 9207), the
code redeemed with `private_key_jwt` (RFC 7523), and the ID token fully validated (OpenID Connect
Core §3.1.3.7): RS256 signature by a key in the provider's JWKS, iss, aud (and azp), exp, iat,
nonce, and an `acr` at least as strong as required for the kind of login.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

__all__ = [
    "ID_TOKEN_ALGS",
    "IdTokenClaims",
    "LoginError",
    "LoginKind",
    "LoginStart",
    "ProviderConfig",
    "ProviderMetadata",
    "RelyingParty",
    "VerifiedIdentity",
    "acr_satisfies",
    "validate_id_token",
]

LoginKind = Literal["guardian", "staff"]
ID_TOKEN_ALGS = ["RS256"]
_LEEWAY = 30
_MAX_ID_TOKEN_AGE = 600
_METADATA_TTL = 3600.0
_JWKS_MIN_REFETCH = 10.0
_HTTP_TIMEOUT = 10.0
_CLIENT_ASSERTION_LIFETIME = 60

# Levels of assurance, weakest first (eIDAS low/substantial/high; ID-porten's old names too).
_ACR_RANK: dict[str, int] = {
    "idporten-loa-low": 1,
    "idporten-loa-substantial": 2,
    "idporten-loa-high": 3,
    "Level3": 2,
    "Level4": 3,
    "substantial": 2,
    "high": 3,
}


def acr_satisfies(acr: str, required: str) -> bool:
    """True if `acr` is a known level at least as strong as `required` (unknown is never)."""
    return acr in _ACR_RANK and required in _ACR_RANK and _ACR_RANK[acr] >= _ACR_RANK[required]


class LoginError(Exception):
    """A login failed. `reason` is a stable code the login page turns into a Norwegian message;
    the exception text is for the log and never holds a token, a code or a fødselsnummer."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    kind: LoginKind
    issuer: str
    client_id: str
    required_acr: str


class ProviderMetadata(msgspec.Struct, frozen=True):
    """The parts of the discovery document (OpenID Connect Discovery, RFC 8414) we rely on."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    pushed_authorization_request_endpoint: str | None = None
    end_session_endpoint: str | None = None
    code_challenge_methods_supported: list[str] = []
    authorization_response_iss_parameter_supported: bool = False
    require_pushed_authorization_requests: bool = False


class IdTokenClaims(msgspec.Struct, frozen=True):
    """Claims of an ID token that passed `validate_id_token`."""

    iss: str
    sub: str
    aud: str | list[str]
    exp: int
    iat: int
    nonce: str
    acr: str
    pid: str
    sid: str | None = None
    amr: list[str] | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None

    @property
    def display_name(self) -> str | None:
        if self.name:
            return self.name
        parts = [part for part in (self.given_name, self.family_name) if part]
        return " ".join(parts) or None


@dataclass(frozen=True, slots=True)
class LoginStart:
    """Where to send the browser, and what to remember until the callback."""

    authorize_url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    claims: IdTokenClaims
    id_token: str


def validate_id_token(
    unverified_id_token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    required_acr: str,
    now: int | None = None,
) -> IdTokenClaims:
    """Return the claims only if the ID token is signed (RS256) by a key in `keys` and its iss,
    aud/azp, exp, iat, nonce, acr and pid are what this login expects; else LoginError."""
    now = int(time.time()) if now is None else now
    try:
        header = jws.extract_compact(unverified_id_token.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeEncodeError) as error:
        raise LoginError("id_token", "not a compact JWS") from error
    if header.get("alg") not in ID_TOKEN_ALGS:
        raise LoginError("id_token", "unexpected signing algorithm")
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=_LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
        acr={"essential": True},
        pid={"essential": True},
    )
    try:
        token = jwt.decode(unverified_id_token, keys, algorithms=ID_TOKEN_ALGS)
        registry.validate(token.claims)
    except JoseError as error:
        raise LoginError("id_token", f"refused: {error.description or error.error}") from error
    try:
        claims = msgspec.convert(token.claims, IdTokenClaims)
    except msgspec.ValidationError as error:
        raise LoginError("id_token", "claims of the wrong shape") from error
    if claims.iat < now - _MAX_ID_TOKEN_AGE:
        raise LoginError("id_token", "issued too long ago")
    multiple_audiences = isinstance(claims.aud, list) and len(claims.aud) > 1
    if multiple_audiences and token.claims.get("azp") != client_id:
        raise LoginError("id_token", "azp does not name this client")
    if not (len(claims.pid) == 11 and claims.pid.isascii() and claims.pid.isdigit()):
        raise LoginError("id_token", "pid is not a fødselsnummer")
    if not acr_satisfies(claims.acr, required_acr):
        raise LoginError("acr", "level of assurance too low")
    return claims


class RelyingParty:
    """One client at each configured provider; metadata and JWKS cached per issuer."""

    def __init__(
        self,
        providers: Mapping[LoginKind, ProviderConfig],
        *,
        client_key: RSAKey,
        redirect_uri: str,
        http: httpx.AsyncClient,
    ) -> None:
        self._providers = dict(providers)
        self._client_key = client_key
        self._redirect_uri = redirect_uri
        self._http = http
        self._metadata: dict[str, tuple[ProviderMetadata, float]] = {}
        self._jwks: dict[str, tuple[KeySet, float]] = {}

    def provider(self, kind: LoginKind) -> ProviderConfig:
        return self._providers[kind]

    def provider_for_issuer(self, issuer: str, kind: str) -> ProviderConfig | None:
        provider = self._providers.get(kind)  # type: ignore[call-overload]
        return provider if provider is not None and provider.issuer == issuer else None

    async def metadata(self, issuer: str) -> ProviderMetadata:
        """The provider's discovery document; its `issuer` must equal the configured one."""
        cached = self._metadata.get(issuer)
        if cached is not None and time.monotonic() - cached[1] < _METADATA_TTL:
            return cached[0]
        body = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        try:
            metadata = msgspec.convert(body, ProviderMetadata)
        except msgspec.ValidationError as error:
            raise LoginError("provider", "unusable discovery document") from error
        if metadata.issuer != issuer:
            raise LoginError("provider", "discovery names another issuer")
        if "S256" not in metadata.code_challenge_methods_supported:
            raise LoginError("provider", "the provider does not offer PKCE S256")
        self._metadata[issuer] = (metadata, time.monotonic())
        return metadata

    async def _provider_keys(self, metadata: ProviderMetadata, kid: object) -> KeySet:
        cached = self._jwks.get(metadata.issuer)
        now = time.monotonic()
        if cached is not None:
            known = any(key.kid == kid for key in cached[0].keys)
            if known or now - cached[1] < _JWKS_MIN_REFETCH:
                return cached[0]
        try:
            keys = KeySet.import_key_set(await self._get_json(metadata.jwks_uri))
        except (JoseError, ValueError, KeyError, TypeError) as error:
            raise LoginError("provider", "unusable JWKS") from error
        self._jwks[metadata.issuer] = (keys, now)
        return keys

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self._http.get(url, timeout=_HTTP_TIMEOUT)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise LoginError("provider", f"GET {url} failed") from error

    def _client_assertion(self, provider: ProviderConfig, metadata: ProviderMetadata) -> str:
        # ID-porten wants aud = its issuer; authlib builds the RFC 7523 claims (iss = sub =
        # client_id, jti, iat, exp), kept short-lived.
        assertion: str = private_key_jwt_sign(
            self._client_key,
            client_id=provider.client_id,
            token_endpoint=metadata.issuer,
            alg="RS256",
            header={"kid": self._client_key.kid},
            expires_in=_CLIENT_ASSERTION_LIFETIME,
        )
        return assertion

    def _client_auth(self, provider: ProviderConfig, metadata: ProviderMetadata) -> dict[str, str]:
        return {
            "client_id": provider.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self._client_assertion(provider, metadata),
        }

    async def begin(self, kind: LoginKind) -> LoginStart:
        """Prepare an authorization request (by PAR when offered) for a login of `kind`."""
        provider = self._providers[kind]
        metadata = await self.metadata(provider.issuer)
        state, nonce, code_verifier = generate_token(43), generate_token(43), generate_token(64)
        params = {
            "client_id": provider.client_id,
            "response_type": "code",
            "redirect_uri": self._redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
            "acr_values": provider.required_acr,
            "ui_locales": "nb",
        }
        if metadata.pushed_authorization_request_endpoint:
            body = await self._post_form(
                metadata.pushed_authorization_request_endpoint,
                params | self._client_auth(provider, metadata),
                expected_status=(200, 201),
            )
            request_uri = body.get("request_uri")
            if not isinstance(request_uri, str):
                raise LoginError("provider", "PAR gave no request_uri")
            query = {"client_id": provider.client_id, "request_uri": request_uri}
        elif metadata.require_pushed_authorization_requests:  # pragma: no cover - contradictory
            raise LoginError("provider", "PAR required but not offered")
        else:
            query = params
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        url = metadata.authorization_endpoint + separator + urlencode(query)
        return LoginStart(url, state, nonce, code_verifier)

    async def complete(
        self,
        provider: ProviderConfig,
        *,
        code: str,
        response_iss: str | None,
        nonce: str,
        code_verifier: str,
    ) -> VerifiedIdentity:
        """Check `iss`, redeem the code and validate the ID token. The caller has already
        matched `state` to this browser's login attempt."""
        metadata = await self.metadata(provider.issuer)
        if response_iss is not None and response_iss != metadata.issuer:
            raise LoginError("iss", "the response names another issuer")
        if response_iss is None and metadata.authorization_response_iss_parameter_supported:
            raise LoginError("iss", "the response lacks iss")
        body = await self._post_form(
            metadata.token_endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._redirect_uri,
                "code_verifier": code_verifier,
            }
            | self._client_auth(provider, metadata),
            expected_status=(200,),
        )
        unverified_id_token = body.get("id_token")
        if not isinstance(unverified_id_token, str):
            raise LoginError("token", "the token response has no id_token")
        try:
            kid = jws.extract_compact(unverified_id_token.encode("ascii")).protected.get("kid")
        except (JoseError, ValueError, UnicodeEncodeError) as error:
            raise LoginError("id_token", "not a compact JWS") from error
        keys = await self._provider_keys(metadata, kid)
        claims = validate_id_token(
            unverified_id_token,
            keys,
            issuer=metadata.issuer,
            client_id=provider.client_id,
            nonce=nonce,
            required_acr=provider.required_acr,
        )
        return VerifiedIdentity(claims, unverified_id_token)

    async def end_session_url(
        self, issuer: str, id_token: str, state: str, redirect: str
    ) -> str | None:
        """The provider's RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0)."""
        try:
            metadata = await self.metadata(issuer)
        except LoginError:
            return None
        if not metadata.end_session_endpoint:
            return None
        query = urlencode(
            {"id_token_hint": id_token, "post_logout_redirect_uri": redirect, "state": state}
        )
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return metadata.end_session_endpoint + separator + query

    async def _post_form(
        self, url: str, form: dict[str, str], *, expected_status: tuple[int, ...]
    ) -> dict[str, Any]:
        try:
            response = await self._http.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=_HTTP_TIMEOUT
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise LoginError("provider", f"POST {url} failed") from error
        if response.status_code not in expected_status or not isinstance(body, dict):
            error_code = body.get("error") if isinstance(body, dict) else None
            raise LoginError("token", f"POST {url} answered {response.status_code} {error_code}")
        return body
