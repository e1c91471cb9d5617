"""The test identity provider: ID-porten's protocol with synthetic persons, for local use only.

Discovery, JWKS, PAR (RFC 9126), authorize with PKCE S256 only (RFC 7636), a login page listing
the test persons, token with `private_key_jwt` client authentication (RFC 7523), RS256 ID tokens
with `pid`, `acr`, `amr` and `sid`, the `iss` authorization response parameter (RFC 9207),
RP-initiated logout, and front-channel logout (OpenID Connect Front-Channel Logout 1.0): a browser
keeps one login session here (a cookie), every client that logs in through it shares its `sid`,
and logging out of one renders the logged-out page with an <iframe> to each other client's
front-channel logout URI. Its state (pushed requests, codes, sessions) is in memory: one local
process. It refuses to exist in production mode (see Settings).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from services.auth.test_idp.login_csrf import CSRF_COOKIE, CSRF_FIELD, LoginFormCsrf
from services.auth.test_idp.login_page import LOGIN_TEXTS, page_locale
from services.auth.test_idp.persons import SYNTHETIC_PERSONS, synthetic_person

__all__ = [
    "BROWSER_COOKIE",
    "LogoutOutcome",
    "RegisteredClient",
    "TestIdentityProvider",
    "TestIdp",
    "TestIdpController",
]

BROWSER_COOKIE = "stafett_test_idp"

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
_REQUEST_LIFETIME = 90
_CODE_LIFETIME = 60
_ID_TOKEN_LIFETIME = 120
_BROWSER_SESSION_LIFETIME = 8 * 3600
_ACR_VALUES = ("idporten-loa-substantial", "idporten-loa-high")
_CLIENT_ALGS = ["RS256"]
_AUTHORIZE_PARAMS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "acr_values",
    "ui_locales",
    "prompt",
)


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    client_id: str
    keys: KeySet
    redirect_uris: frozenset[str]
    post_logout_redirect_uris: frozenset[str]
    frontchannel_logout_uri: str | None = None


@dataclass(slots=True)
class _BrowserSession:
    """One browser's login here: who, and which clients it has logged in to since."""

    sid: str
    pid: str
    clients: set[str]
    expires_at: float


@dataclass(frozen=True, slots=True)
class LogoutOutcome:
    """Where to send the browser after end-session, and which front-channel logout URIs the
    logged-out page must frame first."""

    redirect: str | None
    frontchannel_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    scope: str
    expires_at: float
    ui_locale: str = "nb"


@dataclass(frozen=True, slots=True)
class _CodeGrant:
    request: _AuthorizationRequest
    pid: str
    acr: str
    sid: str
    expires_at: float


class _ProtocolError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class TestIdentityProvider:
    """The provider's keys, registered clients and in-flight requests."""

    __test__ = False  # not a pytest test class, despite the name

    issuer: str
    signing_key: RSAKey
    offer_par: bool = True  # tests switch PAR off to drive the plain authorization request
    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    _pushed: dict[str, _AuthorizationRequest] = field(default_factory=dict)
    _pending: dict[str, _AuthorizationRequest] = field(default_factory=dict)
    _codes: dict[str, _CodeGrant] = field(default_factory=dict)
    _used_jtis: dict[str, float] = field(default_factory=dict)
    login_csrf: LoginFormCsrf = field(default_factory=LoginFormCsrf)
    _browser_sessions: dict[str, _BrowserSession] = field(default_factory=dict)

    def register_client(self, client: RegisteredClient) -> None:
        self.clients[client.client_id] = client

    def discovery(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            **({"pushed_authorization_request_endpoint": f"{base}/par"} if self.offer_par else {}),
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/endsession",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["pid", "acr", "amr", "sid", "name", "given_name", "family_name"],
            "acr_values_supported": list(_ACR_VALUES),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": _CLIENT_ALGS,
            "authorization_response_iss_parameter_supported": True,
            "require_pushed_authorization_requests": False,
            "frontchannel_logout_supported": True,
            "frontchannel_logout_session_supported": True,
            "ui_locales_supported": ["nb", "nn", "en"],
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.signing_key]).as_dict(private=False))

    def _sweep(self) -> None:
        now = time.time()
        for store in (self._pushed, self._pending, self._codes, self._browser_sessions):
            for key in [k for k, v in store.items() if v.expires_at < now]:
                del store[key]
        for jti in [j for j, exp in self._used_jtis.items() if exp < now]:
            del self._used_jtis[jti]

    def authenticate_client(self, form: Mapping[str, str]) -> RegisteredClient:
        """private_key_jwt (RFC 7523 §2.2): signed by the client's registered key, iss = sub =
        client_id, aud naming this provider, unexpired, short-lived, jti not seen before."""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise _ProtocolError("invalid_client", "private_key_jwt is required", 401)
        unverified_assertion = form.get("client_assertion", "")
        try:
            compact = jws.extract_compact(unverified_assertion.encode("ascii"))
            unverified_claims = json.loads(compact.payload)
        except (JoseError, ValueError, UnicodeEncodeError) as error:
            raise _ProtocolError("invalid_client", "client_assertion is not a JWT", 401) from error
        if compact.protected.get("alg") not in _CLIENT_ALGS:
            raise _ProtocolError("invalid_client", "client_assertion must use RS256", 401)
        claimed = form.get("client_id")
        claimed_iss = unverified_claims.get("iss") if isinstance(unverified_claims, dict) else None
        client = self.clients.get(claimed_iss) if isinstance(claimed_iss, str) else None
        if client is None or (claimed is not None and claimed != client.client_id):
            raise _ProtocolError("invalid_client", "unknown client", 401)
        now = int(time.time())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=10,
            iss={"essential": True, "value": client.client_id},
            sub={"essential": True, "value": client.client_id},
            aud={
                "essential": True,
                "values": [self.issuer, f"{self.issuer}/token", f"{self.issuer}/par"],
            },
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            token = jwt.decode(unverified_assertion, client.keys, algorithms=_CLIENT_ALGS)
            registry.validate(token.claims)
        except JoseError as error:
            raise _ProtocolError("invalid_client", "client_assertion was refused", 401) from error
        exp, jti = token.claims["exp"], str(token.claims["jti"])
        if exp > now + 130:
            raise _ProtocolError("invalid_client", "client_assertion lives too long", 401)
        if jti in self._used_jtis:
            raise _ProtocolError("invalid_client", "client_assertion was already used", 401)
        self._used_jtis[jti] = float(exp) + 10
        return client

    def validate_authorization_request(
        self, params: Mapping[str, str], client: RegisteredClient
    ) -> _AuthorizationRequest:
        """The checks of an authorization request, shared by PAR and plain authorize."""
        if params.get("redirect_uri") not in client.redirect_uris:
            raise _ProtocolError("invalid_request", "redirect_uri is not registered")
        if params.get("response_type") != "code":
            raise _ProtocolError("unsupported_response_type", "only response_type=code")
        if params.get("code_challenge_method") != "S256":
            raise _ProtocolError(
                "invalid_request", "PKCE with code_challenge_method=S256 is required"
            )
        challenge = params.get("code_challenge", "")
        if not (43 <= len(challenge) <= 128):
            raise _ProtocolError("invalid_request", "code_challenge is missing or malformed")
        if "openid" not in params.get("scope", "").split():
            raise _ProtocolError("invalid_scope", "scope must include openid")
        state, nonce = params.get("state", ""), params.get("nonce", "")
        if not state or not nonce or len(state) > 512 or len(nonce) > 512:
            raise _ProtocolError("invalid_request", "state and nonce are required")
        ui_locale = page_locale(params["ui_locales"]) if "ui_locales" in params else "nb"
        if ui_locale is None or len(params.get("ui_locales", "")) > 64:
            raise _ProtocolError("invalid_request", "ui_locales must be nb, nn, en or se")
        return _AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=params["redirect_uri"],
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            scope=params.get("scope", "openid"),
            expires_at=time.time() + 600,
            ui_locale=ui_locale,
        )

    def push(self, form: Mapping[str, str]) -> dict[str, Any]:
        self._sweep()
        client = self.authenticate_client(form)
        if "request_uri" in form:
            raise _ProtocolError("invalid_request", "request_uri is not allowed in PAR")
        request = self.validate_authorization_request(form, client)
        request_uri = _REQUEST_URI_PREFIX + secrets.token_urlsafe(24)
        self._pushed[request_uri] = _AuthorizationRequest(
            **{**_fields(request), "expires_at": time.time() + _REQUEST_LIFETIME}
        )
        return {"request_uri": request_uri, "expires_in": _REQUEST_LIFETIME}

    def begin_authorization(self, params: Mapping[str, str]) -> str:
        """Resolve an authorize request (pushed or full) to a pending login; returns its id."""
        self._sweep()
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise _ProtocolError("invalid_client", "unknown client_id")
        request_uri = params.get("request_uri")
        if request_uri is not None:
            request = self._pushed.pop(request_uri, None)
            if request is None or request.client_id != client.client_id:
                raise _ProtocolError("invalid_request_uri", "unknown or used request_uri")
        else:
            request = self.validate_authorization_request(params, client)
        request_id = secrets.token_urlsafe(24)
        self._pending[request_id] = request
        return request_id

    def page_locale_of(self, request_id: str) -> str:
        """The language the pending login's page is shown in (from its `ui_locales`)."""
        pending = self._pending.get(request_id)
        return pending.ui_locale if pending is not None else "nb"

    def redirect_for_error(self, params: Mapping[str, str], error: _ProtocolError) -> str | None:
        """Where to send an authorize error, if the client and redirect_uri can be trusted."""
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri")
        if client is None or redirect_uri not in client.redirect_uris:
            return None
        query = {"error": error.error, "error_description": error.description, "iss": self.issuer}
        if params.get("state"):
            query["state"] = params["state"]
        return f"{redirect_uri}?{urlencode(query)}"

    def complete_login(
        self,
        request_id: str,
        pid: str | None,
        acr: str,
        cancel: bool,
        browser: str | None = None,
    ) -> tuple[str, str | None]:
        """The person chose (or cancelled); returns the redirect back to the client and the
        browser's login-session handle (for its cookie). The same person logging in again
        from the same browser keeps the session's `sid`; another person starts a new one."""
        self._sweep()
        request = self._pending.pop(request_id, None)
        if request is None:
            raise _ProtocolError("invalid_request", "the login request has expired")
        query: dict[str, str]
        if cancel or pid is None or synthetic_person(pid) is None:
            query = {"error": "access_denied", "state": request.state, "iss": self.issuer}
            return f"{request.redirect_uri}?{urlencode(query)}", browser
        session = self._browser_sessions.get(browser) if browser else None
        if session is None or session.pid != pid:
            browser = secrets.token_urlsafe(24)
            session = _BrowserSession(
                sid=secrets.token_urlsafe(16),
                pid=pid,
                clients=set(),
                expires_at=time.time() + _BROWSER_SESSION_LIFETIME,
            )
            self._browser_sessions[browser] = session
        session.clients.add(request.client_id)
        code = secrets.token_urlsafe(32)
        self._codes[code] = _CodeGrant(
            request=request,
            pid=pid,
            acr=acr if acr in _ACR_VALUES else "idporten-loa-high",
            sid=session.sid,
            expires_at=time.time() + _CODE_LIFETIME,
        )
        query = {"code": code, "state": request.state, "iss": self.issuer}
        return f"{request.redirect_uri}?{urlencode(query)}", browser

    def redeem(self, form: Mapping[str, str]) -> dict[str, Any]:
        self._sweep()
        client = self.authenticate_client(form)
        if form.get("grant_type") != "authorization_code":
            raise _ProtocolError("unsupported_grant_type", "only authorization_code")
        grant = self._codes.pop(form.get("code", ""), None)  # single use, even when refused
        if grant is None or grant.request.client_id != client.client_id:
            raise _ProtocolError("invalid_grant", "unknown, expired or used code")
        if form.get("redirect_uri") != grant.request.redirect_uri:
            raise _ProtocolError("invalid_grant", "redirect_uri does not match")
        verifier = form.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if not hmac.compare_digest(computed.rstrip(b"=").decode(), grant.request.code_challenge):
            raise _ProtocolError("invalid_grant", "code_verifier does not match")
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": _ID_TOKEN_LIFETIME,
            "scope": grant.request.scope,
            "id_token": self._id_token(grant),
        }

    def _id_token(self, grant: _CodeGrant) -> str:
        person = synthetic_person(grant.pid)
        if person is None:  # pragma: no cover - checked at login
            raise _ProtocolError("invalid_grant", "unknown person")
        now = int(time.time())
        pairwise = hashlib.sha256(f"{grant.request.client_id}\x00{grant.pid}".encode()).digest()
        claims = {
            "iss": self.issuer,
            "aud": grant.request.client_id,
            "sub": base64.urlsafe_b64encode(pairwise).rstrip(b"=").decode(),
            "iat": now,
            "auth_time": now,
            "exp": now + _ID_TOKEN_LIFETIME,
            "jti": secrets.token_urlsafe(16),
            "nonce": grant.request.nonce,
            "pid": grant.pid,
            "acr": grant.acr,
            "amr": ["TestID"],
            "sid": grant.sid,
            "locale": "nb",
            "name": person.name,
            "given_name": person.given_name,
            "family_name": person.family_name,
        }
        header = {"alg": "RS256", "kid": self.signing_key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.signing_key, algorithms=["RS256"])

    def end_session(self, params: Mapping[str, str], browser: str | None) -> LogoutOutcome:
        """Log the browser out (OpenID Connect RP-Initiated Logout 1.0): end its login session
        here, and name the front-channel logout URIs (with iss and sid) of every other client
        that shared it. Redirect only if the id_token_hint (signed by us; expiry does not
        matter) and its client's registered post_logout_redirect_uri check out."""
        hint_claims = self._hint_claims(params.get("id_token_hint", ""))
        initiator = str(hint_claims.get("aud")) if hint_claims else None
        session = self._browser_sessions.pop(browser, None) if browser else None
        sid = session.sid if session is not None else None
        if sid is None and hint_claims is not None and isinstance(hint_claims.get("sid"), str):
            sid = str(hint_claims["sid"])
            for handle in [h for h, s in self._browser_sessions.items() if s.sid == sid]:
                session = self._browser_sessions.pop(handle)
        uris: list[str] = []
        if session is not None and sid is not None:
            for client_id in sorted(session.clients - {initiator}):
                client = self.clients.get(client_id)
                if client is None or not client.frontchannel_logout_uri:
                    continue
                separator = "&" if "?" in client.frontchannel_logout_uri else "?"
                query = urlencode({"iss": self.issuer, "sid": sid})
                uri = f"{client.frontchannel_logout_uri}{separator}{query}"
                if uri not in uris:
                    uris.append(uri)
        return LogoutOutcome(self._logout_redirect(params, hint_claims), tuple(uris))

    def _hint_claims(self, hint: str) -> dict[str, Any] | None:
        if not hint:
            return None
        try:  # an expired hint is fine; its signature and issuer must be ours
            token = jwt.decode(hint, self.signing_key, algorithms=["RS256"])
        except JoseError:
            return None
        if token.claims.get("iss") != self.issuer:
            return None
        return dict(token.claims)

    def _logout_redirect(
        self, params: Mapping[str, str], hint_claims: dict[str, Any] | None
    ) -> str | None:
        redirect = params.get("post_logout_redirect_uri")
        if hint_claims is None or not redirect:
            return None
        client = self.clients.get(str(hint_claims.get("aud")))
        if client is None or redirect not in client.post_logout_redirect_uris:
            return None
        state = params.get("state")
        return f"{redirect}?{urlencode({'state': state})}" if state else redirect


TestIdp = NamedDependency[TestIdentityProvider]


def _fields(request: _AuthorizationRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}


def _single_values(form: FormMultiDict | Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key in form:
        value = form.getall(key) if isinstance(form, FormMultiDict) else [form[key]]
        if len(value) != 1 or not isinstance(value[0], str):
            raise _ProtocolError("invalid_request", f"{key} must be sent exactly once")
        values[key] = value[0]
    return values


def _json_error(error: _ProtocolError) -> Response[dict[str, str]]:
    return Response(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers={"Cache-Control": "no-store"},
    )


def _error_page(message: str) -> Template:
    return Template(
        template_name="error.html",
        context={"title": "Innloggingen mislyktes", "message": message, "home_url": "/test-idp/"},
        status_code=400,
    )


class TestIdpController(Controller):
    __test__ = False  # not a pytest test class, despite the name
    path = "/test-idp"
    include_in_schema = False

    @get("/.well-known/openid-configuration")
    async def discovery(self, test_idp: TestIdp) -> dict[str, Any]:
        return test_idp.discovery()

    @get("/jwks")
    async def jwks(self, test_idp: TestIdp) -> dict[str, Any]:
        return test_idp.jwks()

    @post("/par", status_code=201)
    async def par(self, request: Request[Any, Any, Any], test_idp: TestIdp) -> Response[Any]:
        try:
            return Response(
                test_idp.push(_single_values(await request.form())),
                status_code=201,
                headers={"Cache-Control": "no-store"},
            )
        except _ProtocolError as error:
            return _json_error(error)

    @get("/authorize")
    async def authorize(self, request: Request[Any, Any, Any], test_idp: TestIdp) -> Response[Any]:
        params = {
            key: value
            for key, value in request.query_params.items()
            if key in (*_AUTHORIZE_PARAMS, "request_uri")
        }
        try:
            request_id = test_idp.begin_authorization(params)
        except _ProtocolError as error:
            target = test_idp.redirect_for_error(params, error)
            if target is not None:
                return Redirect(target, status_code=303)
            return _error_page(f"Forespørselen er ugyldig: {error.description}.")
        guardians = [p for p in SYNTHETIC_PERSONS if p.kind == "guardian"]
        staff = [p for p in SYNTHETIC_PERSONS if p.kind == "staff"]
        locale = test_idp.page_locale_of(request_id)
        binding = test_idp.login_csrf.binding_for(request.cookies.get(CSRF_COOKIE))
        page = Template(
            template_name="test_idp/login.html",
            context={
                "action": "/test-idp/login",
                "request_id": request_id,
                "csrf_token": test_idp.login_csrf.token(request_id, binding),
                "guardians": guardians,
                "staff": staff,
                "lang": locale,
                "t": LOGIN_TEXTS[locale],
            },
            headers={"Cache-Control": "no-store"},
        )
        page.set_cookie(CSRF_COOKIE, binding, path="/test-idp", httponly=True, samesite="strict")
        return page

    @post("/login", status_code=303)
    async def choose_person(
        self, request: Request[Any, Any, Any], test_idp: TestIdp
    ) -> Response[Any]:
        try:
            form = _single_values(await request.form())
            if not test_idp.login_csrf.is_valid(
                form.get("request_id", ""), request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)
            ):
                return _error_page("Skjemaet kom ikke fra denne innloggingen. Start på nytt.")
            target, browser = test_idp.complete_login(
                form.get("request_id", ""),
                form.get("pid"),
                form.get("acr", "idporten-loa-high"),
                cancel="cancel" in form,
                browser=request.cookies.get(BROWSER_COOKIE),
            )
        except _ProtocolError:
            return _error_page("Innloggingen er utløpt. Gå tilbake og start på nytt.")
        response: Response[Any] = Redirect(target, status_code=303)
        if browser is not None:
            response.set_cookie(
                key=BROWSER_COOKIE,
                value=browser,
                path="/test-idp",
                httponly=True,
                samesite="lax",
                max_age=_BROWSER_SESSION_LIFETIME,
            )
        return response

    @post("/token", status_code=200)
    async def token(self, request: Request[Any, Any, Any], test_idp: TestIdp) -> Response[Any]:
        try:
            body = test_idp.redeem(_single_values(await request.form()))
        except _ProtocolError as error:
            return _json_error(error)
        return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @get("/endsession")
    async def end_session(
        self, request: Request[Any, Any, Any], test_idp: TestIdp
    ) -> Response[Any]:
        outcome = test_idp.end_session(
            dict(request.query_params.items()), request.cookies.get(BROWSER_COOKIE)
        )
        response: Response[Any]
        if outcome.redirect is not None and not outcome.frontchannel_uris:
            response = Redirect(outcome.redirect, status_code=303)
        else:
            response = Template(
                template_name="test_idp/logged_out.html",
                context={
                    "frontchannel_uris": outcome.frontchannel_uris,
                    "continue_url": outcome.redirect,
                },
                headers={"Cache-Control": "no-store"},
            )
        response.delete_cookie(BROWSER_COOKIE, path="/test-idp")
        return response
