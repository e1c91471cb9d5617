"""The OpenID Connect relying party: the same code talks to ID-porten, Ansattporten, any
standard OpenID Provider, and the built-in test IdP; only the configuration differs.

Authorization code flow with PKCE S256 (RFC 7636), a fresh `state` and `nonce` per attempt,
pushed authorization requests (RFC 9126) whenever discovery offers them (a plain authorization
request otherwise), the `iss` response parameter checked (RFC 9207), the code redeemed with
`private_key_jwt` (RFC 7523) or `client_secret_basic` (RFC 6749 §2.3.1) as configured per
provider, and the ID token fully validated (OpenID Connect Core §3.1.3.7): RS256 signature by a
key in the provider's JWKS, iss, aud (and azp), exp, iat, nonce, and an `acr` at least as strong
as required for the kind of login.

Discovery is cached for 24 hours and fetched again when something fails that new metadata could
mend (the token endpoint or the PAR endpoint does not answer, or the ID token names a key the
JWKS lacks); the JWKS is fetched again on an unknown `kid`, at most once per 10 seconds.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

__all__ = [
    "ACR_LEVELS",
    "CLIENT_ASSERTION_LIFETIME",
    "CLIENT_ASSERTION_TYPE",
    "ID_TOKEN_ALGS",
    "UI_LOCALES",
    "ClientAuthMethod",
    "IdTokenClaims",
    "LoginError",
    "LoginKind",
    "LoginStart",
    "ProviderConfig",
    "ProviderMetadata",
    "RelyingParty",
    "VerifiedIdentity",
    "acr_satisfies",
    "make_client_assertion",
    "validate_id_token",
]

LoginKind = Literal["guardian", "staff"]
ClientAuthMethod = Literal["private_key_jwt", "client_secret_basic"]
# The login page's languages we ask for (`ui_locales`). ID-porten takes nb, nn, en and se
# (docs.digdir.no, /authorize); the portal has no Sami catalogue, so se is not offered.
UI_LOCALES = ("nb", "nn", "en")
ID_TOKEN_ALGS = ["RS256"]  # ID-porten and Ansattporten sign ID tokens with RS256 only
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_LIFETIME = 60  # seconds; ID-porten accepts at most 120
_CLIENT_ASSERTION_ALG = "RS256"
_LEEWAY = 30
_MAX_ID_TOKEN_AGE = 600
_METADATA_TTL = 24 * 3600.0
_MIN_REFETCH = 10.0
_HTTP_TIMEOUT = 10.0

# Levels of assurance, weakest first. ID-porten names them idporten-loa-*; Ansattporten asks for
# `substantial`/`high` in acr_values (docs.digdir.no, "Ansattporten protokoll"); Level3/Level4
# are ID-porten's old names. Anything else (e.g. Ansattporten's `entraid`) satisfies nothing.
ACR_LEVELS: Mapping[str, int] = {
    "idporten-loa-low": 1,
    "low": 1,
    "idporten-loa-substantial": 2,
    "substantial": 2,
    "Level3": 2,
    "idporten-loa-high": 3,
    "high": 3,
    "Level4": 3,
}


def acr_satisfies(acr: str, required: str) -> bool:
    """True if `acr` is a known level at least as strong as `required` (unknown is never)."""
    return acr in ACR_LEVELS and required in ACR_LEVELS and ACR_LEVELS[acr] >= ACR_LEVELS[required]


class LoginError(Exception):
    """A login failed. `reason` is a stable code the login page turns into a Norwegian message;
    the exception text is for the log and never holds a token, a code or a fødselsnummer."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class _UnreachableError(LoginError):
    """The endpoint did not answer as an OAuth endpoint (network error, 404, 5xx): new
    discovery metadata might name a better one."""

    def __init__(self, detail: str) -> None:
        super().__init__("provider", detail)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """This client's registration at one provider. The secret is kept out of repr()."""

    kind: LoginKind
    issuer: str
    client_id: str
    required_acr: str
    client_auth: ClientAuthMethod = "private_key_jwt"
    client_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.client_auth == "client_secret_basic" and not self.client_secret:
            raise ValueError("client_secret_basic needs a client secret")


class ProviderMetadata(msgspec.Struct, frozen=True):
    """The parts of the discovery document (OpenID Connect Discovery, RFC 8414) we rely on."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    pushed_authorization_request_endpoint: str | None = None
    end_session_endpoint: str | None = None
    code_challenge_methods_supported: list[str] = []
    id_token_signing_alg_values_supported: list[str] = []
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
    amr: list[str] | str | None = None  # ID-porten sends a list; its old docs show a string
    azp: str | None = None
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
    pushed: bool


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    claims: IdTokenClaims
    id_token: str


def make_client_assertion(
    key: RSAKey, *, client_id: str, audience: str, now: int | None = None
) -> str:
    """A `private_key_jwt` client assertion (RFC 7523 §3): RS256 by `key` (its kid in the
    header), iss = sub = client_id, aud = `audience` (the provider's issuer, as ID-porten
    wants), a fresh random jti, iat now and exp CLIENT_ASSERTION_LIFETIME seconds later.
    It proves possession of the key for a minute; it does not stop the provider from
    accepting it twice (that is the provider's jti check)."""
    now = int(time.time()) if now is None else now
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + CLIENT_ASSERTION_LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }
    header = {"alg": _CLIENT_ASSERTION_ALG, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=[_CLIENT_ASSERTION_ALG])


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
    """Return the claims only if the ID token is signed (RS256, never `none` or HMAC) by a key
    in `keys` and its iss, aud (and azp), exp, iat (not in the future, not older than ten
    minutes), nonce, acr (at least `required_acr`) and pid (eleven digits) are what this login
    expects; else LoginError. It does not check that the code was redeemed only once (the
    provider does) nor that `state` matched (the caller does)."""
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
    if claims.iat > now + _LEEWAY:
        raise LoginError("id_token", "issued in the future")
    if claims.iat < now - _MAX_ID_TOKEN_AGE:
        raise LoginError("id_token", "issued too long ago")
    multiple_audiences = isinstance(claims.aud, list) and len(claims.aud) > 1
    if (multiple_audiences or claims.azp is not None) and claims.azp != client_id:
        raise LoginError("id_token", "azp does not name this client")
    if not (len(claims.pid) == 11 and claims.pid.isascii() and claims.pid.isdigit()):
        raise LoginError("id_token", "pid is not a fødselsnummer")
    if not acr_satisfies(claims.acr, required_acr):
        raise LoginError("acr", "level of assurance too low")
    return claims


class RelyingParty:
    """One client at each configured provider; discovery and JWKS cached per issuer."""

    def __init__(
        self,
        providers: Mapping[LoginKind, ProviderConfig],
        *,
        client_key: RSAKey,
        redirect_uri: str,
        http: httpx.AsyncClient,
        ui_locales: str = "nb",
    ) -> None:
        self._providers = dict(providers)
        self._client_key = client_key
        self._redirect_uri = redirect_uri
        self._http = http
        self._ui_locales = ui_locales
        self._metadata: dict[str, tuple[ProviderMetadata, float]] = {}
        self._jwks: dict[str, tuple[KeySet, float]] = {}
        self._last_forced_discovery: dict[str, float] = {}

    def provider(self, kind: LoginKind) -> ProviderConfig:
        return self._providers[kind]

    def provider_for_issuer(self, issuer: str, kind: str) -> ProviderConfig | None:
        provider = self._providers.get(kind)  # type: ignore[call-overload]
        return provider if provider is not None and provider.issuer == issuer else None

    @property
    def issuers(self) -> frozenset[str]:
        """The issuers of every configured provider."""
        return frozenset(provider.issuer for provider in self._providers.values())

    async def metadata(self, issuer: str, *, refresh: bool = False) -> ProviderMetadata:
        """The provider's discovery document, cached for 24 h. Its `issuer` must equal the
        configured one exactly and it must offer PKCE S256 and RS256 ID tokens. With
        `refresh`, fetch it again unless that was done in the last 10 seconds."""
        cached = self._metadata.get(issuer)
        now = time.monotonic()
        if cached is not None:
            fresh = now - cached[1] < _METADATA_TTL
            recently_forced = now - self._last_forced_discovery.get(issuer, -_MIN_REFETCH) < (
                _MIN_REFETCH
            )
            if (fresh and not refresh) or (refresh and recently_forced):
                return cached[0]
        if refresh:
            self._last_forced_discovery[issuer] = now
        try:
            body = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        except LoginError:
            if cached is not None:  # a stale document beats none while the provider hiccups
                return cached[0]
            raise
        try:
            metadata = msgspec.convert(body, ProviderMetadata)
        except msgspec.ValidationError as error:
            raise LoginError("provider", "unusable discovery document") from error
        if metadata.issuer != issuer:
            raise LoginError("provider", "discovery names another issuer")
        if "S256" not in metadata.code_challenge_methods_supported:
            raise LoginError("provider", "the provider does not offer PKCE S256")
        if metadata.id_token_signing_alg_values_supported and not set(ID_TOKEN_ALGS) & set(
            metadata.id_token_signing_alg_values_supported
        ):
            raise LoginError("provider", "the provider does not sign ID tokens with RS256")
        self._metadata[issuer] = (metadata, now)
        return metadata

    async def _provider_keys(self, metadata: ProviderMetadata, kid: object) -> KeySet:
        """The provider's JWKS. On a kid we do not know: fetch the JWKS again (at most once per
        10 s); if the kid is still missing, fetch discovery again in case jwks_uri moved."""
        cached = self._jwks.get(metadata.issuer)
        if cached is not None and (kid is None or _has_kid(cached[0], kid)):
            return cached[0]
        now = time.monotonic()
        if cached is not None and now - cached[1] < _MIN_REFETCH:
            return cached[0]
        keys = await self._fetch_jwks(metadata.jwks_uri)
        self._jwks[metadata.issuer] = (keys, now)
        if kid is None or _has_kid(keys, kid):
            return keys
        refreshed = await self.metadata(metadata.issuer, refresh=True)
        if refreshed.jwks_uri != metadata.jwks_uri:
            keys = await self._fetch_jwks(refreshed.jwks_uri)
            self._jwks[metadata.issuer] = (keys, now)
        return keys

    async def _fetch_jwks(self, jwks_uri: str) -> KeySet:
        try:
            return KeySet.import_key_set(await self._get_json(jwks_uri))
        except (JoseError, ValueError, KeyError, TypeError) as error:
            raise LoginError("provider", "unusable JWKS") from error

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self._http.get(url, timeout=_HTTP_TIMEOUT)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise LoginError("provider", f"GET {url} failed") from error

    def _client_auth(
        self, provider: ProviderConfig, metadata: ProviderMetadata
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(form fields, headers) that authenticate this client at the provider."""
        if provider.client_auth == "client_secret_basic":
            secret = provider.client_secret or ""
            # RFC 6749 §2.3.1: both parts form-urlencoded before base64
            pair = f"{quote(provider.client_id, safe='')}:{quote(secret, safe='')}"
            basic = base64.b64encode(pair.encode()).decode("ascii")
            return {}, {"Authorization": f"Basic {basic}"}
        assertion = make_client_assertion(
            self._client_key, client_id=provider.client_id, audience=metadata.issuer
        )
        return {
            "client_id": provider.client_id,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }, {}

    async def begin(self, kind: LoginKind, *, ui_locales: str | None = None) -> LoginStart:
        """Prepare an authorization request for a login of `kind`: pushed (RFC 9126) when the
        provider's discovery offers PAR, else as query parameters. Each call draws a fresh
        state, nonce and PKCE verifier (256 bits or more each). `ui_locales` is the language
        of the provider's login page (one of `UI_LOCALES`; the configured one when None)."""
        if ui_locales is not None and ui_locales not in UI_LOCALES:
            raise ValueError("ui_locales must be one of " + ", ".join(UI_LOCALES))
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
            "ui_locales": ui_locales or self._ui_locales,
        }
        if metadata.pushed_authorization_request_endpoint:
            try:
                request_uri = await self._push(provider, metadata, params)
            except _UnreachableError:
                metadata = await self.metadata(provider.issuer, refresh=True)
                if not metadata.pushed_authorization_request_endpoint:
                    raise
                request_uri = await self._push(provider, metadata, params)
            query = {"client_id": provider.client_id, "request_uri": request_uri}
        elif metadata.require_pushed_authorization_requests:
            raise LoginError("provider", "PAR required but no PAR endpoint offered")
        else:
            query = params
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        url = metadata.authorization_endpoint + separator + urlencode(query)
        return LoginStart(url, state, nonce, code_verifier, pushed="request_uri" in query)

    async def _push(
        self, provider: ProviderConfig, metadata: ProviderMetadata, params: dict[str, str]
    ) -> str:
        endpoint = metadata.pushed_authorization_request_endpoint
        assert endpoint is not None
        form, headers = self._client_auth(provider, metadata)
        body = await self._post_form(
            endpoint, params | form, headers=headers, expected_status=(200, 201)
        )
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise LoginError("provider", "PAR gave no request_uri")
        return request_uri

    async def complete(
        self,
        provider: ProviderConfig,
        *,
        code: str,
        response_iss: str | None,
        nonce: str,
        code_verifier: str,
    ) -> VerifiedIdentity:
        """Check `iss` (RFC 9207: it must equal the issuer when present, and be present when
        the provider says it sends it), redeem the code once and validate the ID token. The
        caller has already matched `state` to this browser's login attempt."""
        metadata = await self.metadata(provider.issuer)
        if response_iss is not None and response_iss != metadata.issuer:
            raise LoginError("iss", "the response names another issuer")
        if response_iss is None and metadata.authorization_response_iss_parameter_supported:
            raise LoginError("iss", "the response lacks iss")
        token_request = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._redirect_uri,
            "code_verifier": code_verifier,
        }
        try:
            body = await self._redeem(provider, metadata, token_request)
        except _UnreachableError:
            # Retry only at a token endpoint that discovery now names differently: the same
            # endpoint might have spent the code already, and a code is redeemed once.
            refreshed = await self.metadata(provider.issuer, refresh=True)
            if refreshed.token_endpoint == metadata.token_endpoint:
                raise
            metadata = refreshed
            body = await self._redeem(provider, metadata, token_request)
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

    async def _redeem(
        self, provider: ProviderConfig, metadata: ProviderMetadata, token_request: dict[str, str]
    ) -> dict[str, Any]:
        form, headers = self._client_auth(provider, metadata)
        return await self._post_form(
            metadata.token_endpoint, token_request | form, headers=headers, expected_status=(200,)
        )

    async def end_session_url(
        self, issuer: str, id_token: str, state: str, redirect: str
    ) -> str | None:
        """The provider's RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0)
        with id_token_hint, post_logout_redirect_uri and state; None if it has none."""
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
        self,
        url: str,
        form: dict[str, str],
        *,
        headers: dict[str, str],
        expected_status: tuple[int, ...],
    ) -> dict[str, Any]:
        try:
            response = await self._http.post(
                url,
                data=form,
                headers={"Accept": "application/json"} | headers,
                timeout=_HTTP_TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise _UnreachableError(f"POST {url} failed") from error
        if response.status_code == 404 or response.status_code >= 500:
            raise _UnreachableError(f"POST {url} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as error:
            raise LoginError("token", f"POST {url} answered {response.status_code}") from error
        if response.status_code not in expected_status or not isinstance(body, dict):
            error_code = body.get("error") if isinstance(body, dict) else None
            raise LoginError("token", f"POST {url} answered {response.status_code} {error_code}")
        return body


def _has_kid(keys: KeySet, kid: object) -> bool:
    return any(key.kid == kid for key in keys.keys)
