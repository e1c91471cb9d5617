"""Browser login and logout: `/login`, `/callback`, `/logout`.

The login attempt (state, nonce, PKCE verifier, where to go next) is kept server-side, keyed by a
hash of `state`, and bound to the browser by a short-lived cookie holding `state`: a callback whose
state does not match this browser's cookie is refused (login CSRF), and each attempt completes once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from services.auth.csrf import request_is_from_allowed_origin
from services.auth.directory import DirectoryService, NotInStaffDirectoryError
from services.auth.error_texts import (
    LANGUAGE_COOKIE_MAX_AGE,
    Language,
    error_text,
    home_link,
    language_cookie,
    language_of,
)
from services.auth.oidc import (
    UI_LOCALES,
    ClientAuthMethod,
    LoginError,
    LoginKind,
    ProviderConfig,
    RelyingParty,
)
from services.auth.ratelimit import RateLimiter, RateLimitRule, RateLimitUnavailableError
from services.auth.sessions import NewSession, SessionStore
from services.auth.settings import Settings
from shared.settings import Mode

__all__ = [
    "AuthSettings",
    "Login",
    "LoginService",
    "callback",
    "configured_providers",
    "is_safe_next_path",
    "login",
    "logout",
    "logout_done",
]

_log = logging.getLogger("stafett.auth.login")
_ATTEMPT_SECONDS = 600
_NEXT = re.compile(r"^/(?![/\\])[\x21-\x7e]{0,2047}$")
_SID = re.compile(r"^[\x21-\x7e]{1,255}$")

# The status of each refusal; what the page says is in services.auth.error_texts.
_STATUS: dict[str, int] = {
    "acr": 403,
    "not_staff": 403,
    "origin": 403,
    "provider": 502,
    "too_many": 429,
}


def is_safe_next_path(next_path: str) -> bool:
    """True for a relative path on our own site: one leading "/", no scheme, host, backslash,
    whitespace or control character (so it can never redirect to another origin)."""
    return bool(_NEXT.match(next_path))


def configured_providers(settings: Settings) -> dict[LoginKind, ProviderConfig]:
    """The provider for each kind of login: ID-porten for guardians, Ansattporten (or the
    municipality's own OIDC provider) for staff, with the client authentication configured."""

    def method(name: str) -> ClientAuthMethod:
        return "client_secret_basic" if name == "client_secret_basic" else "private_key_jwt"

    return {
        "guardian": ProviderConfig(
            "guardian",
            settings.idporten_issuer,
            settings.idporten_client_id,
            settings.guardian_acr,
            client_auth=method(settings.idporten_client_auth),
            client_secret=(
                settings.idporten_client_secret.reveal()
                if settings.idporten_client_secret is not None
                else None
            ),
        ),
        "staff": ProviderConfig(
            "staff",
            settings.ansattporten_issuer,
            settings.ansattporten_client_id,
            settings.staff_acr,
            client_auth=method(settings.ansattporten_client_auth),
            client_secret=(
                settings.ansattporten_client_secret.reveal()
                if settings.ansattporten_client_secret is not None
                else None
            ),
        ),
    }


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CompletedLogin:
    cookie_value: str
    next_path: str


class LoginService:
    """Runs a login from start to session, and a logout."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        relying_party: RelyingParty,
        directory: DirectoryService,
        sessions: SessionStore,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._limiter = limiter
        self._account_rule = RateLimitRule(
            "login-account", settings.rate_limit_login_per_account_per_minute
        )
        self._sessionmaker = sessionmaker
        self._rp = relying_party
        self._directory = directory
        self._sessions = sessions

    async def start(
        self, kind: LoginKind, next_path: str, ui_locales: str | None = None
    ) -> tuple[str, str]:
        """Begin a login; returns (authorization URL, state for the browser's cookie).
        `ui_locales` (nb, nn or en) is the language of the provider's login page."""
        start = await self._rp.begin(kind, ui_locales=ui_locales)
        async with self._sessionmaker() as db:
            db.add(
                models.LoginAttemptRow(
                    state_hash=_hash(start.state),
                    kind=kind,
                    issuer=self._rp.provider(kind).issuer,
                    nonce=start.nonce,
                    code_verifier=start.code_verifier,
                    next_path=next_path,
                    expires_at=int(time.time()) + _ATTEMPT_SECONDS,
                )
            )
            await db.commit()
        return start.authorize_url, start.state

    async def finish(
        self,
        *,
        state: str,
        browser_state: str | None,
        code: str | None,
        response_iss: str | None,
        provider_error: str | None,
        old_cookie: str | None,
    ) -> CompletedLogin:
        """Complete a login: state bound to this browser, iss, code, ID token, directory, and a
        fresh session. Raises LoginError with a reason for the error page."""
        if not browser_state or not hmac.compare_digest(state.encode(), browser_state.encode()):
            raise LoginError("state", "state does not match this browser's login attempt")
        async with self._sessionmaker() as db:
            attempt = await models.take_login_attempt(db, _hash(state))
            await db.commit()
        if attempt is None or attempt.expires_at < int(time.time()):
            raise LoginError("expired", "no pending login attempt for this state")
        if provider_error is not None:
            raise LoginError("cancelled", "the provider answered with an error")
        if not code:
            raise LoginError("token", "the response has no code")
        provider = self._rp.provider_for_issuer(attempt.issuer, attempt.kind)
        if provider is None:
            raise LoginError("expired", "the attempt's provider is no longer configured")
        identity = await self._rp.complete(
            provider,
            code=code,
            response_iss=response_iss,
            nonce=attempt.nonce,
            code_verifier=attempt.code_verifier,
        )
        claims = identity.claims
        await self._count_login_of(claims.pid)
        try:
            person, unit = await self._directory.person_for_login(
                claims.pid, claims.display_name, provider.kind
            )
        except NotInStaffDirectoryError as error:
            raise LoginError("not_staff", "staff login by someone not in the directory") from error
        cookie_value = await self._sessions.create(
            NewSession(
                subject=person.subject,
                role=provider.kind,
                service_id=unit.id if unit is not None else None,
                acr=claims.acr,
                idp_issuer=provider.issuer,
                idp_sid=claims.sid,
                person_keys=await self._directory.person_keys(person),
                service_keys=(
                    await self._directory.service_keys(unit) if unit is not None else None
                ),
                id_token=identity.id_token,
            ),
            replacing=old_cookie,
        )
        _log.info("login completed for %s as %s", person.subject, provider.kind)
        return CompletedLogin(cookie_value, attempt.next_path)

    async def _count_login_of(self, pid: str) -> None:
        """Per-account login limit: the account is first known here, once the ID token is
        valid; the address limit already met the request. Keyed by the pid's keyed hash (the
        limiter hashes again), so no fødselsnummer reaches the counter store. Fails closed."""
        if self._limiter is None:
            return
        account = self._directory.pid_hmac(pid)
        try:
            wait = await self._limiter.check([(self._account_rule, account)])
        except RateLimitUnavailableError as error:
            raise LoginError("provider", "the rate limit store is unavailable") from error
        if wait is not None:
            _log.warning("login rate limit exceeded for one account")
            raise LoginError("too_many", "too many logins for one account")

    async def frontchannel_logout(self, issuer: str | None, sid: str | None) -> int:
        """End every session that came from the provider login `sid` at `issuer`, whichever
        browser holds it; returns how many ended. Raises LoginError("frontchannel") unless
        `issuer` is a configured provider and `sid` is well formed. Anyone who knows a sid can
        end its sessions: that is the protocol's design, and ending a session is all it does."""
        if not issuer or issuer not in self._rp.issuers:
            raise LoginError("frontchannel", "iss is missing or not a configured provider")
        if not sid or not _SID.match(sid):
            raise LoginError("frontchannel", "sid is missing or malformed")
        return await self._sessions.end_sessions_by_sid(issuer, sid)

    async def logout(self, cookie_value: str | None) -> tuple[str, str | None]:
        """End the session and return where to send the browser: the provider's end-session
        endpoint (with a fresh `state` for the return, also returned) when there was a
        session, else the portal's front page (and no state)."""
        front_page = f"{self._settings.portal_url}/"
        if not cookie_value:
            return front_page, None
        ended = await self._sessions.end(cookie_value)
        if ended is None:
            return front_page, None
        state = secrets.token_urlsafe(32)
        url = await self._rp.end_session_url(
            ended.idp_issuer,
            ended.secrets.id_token,
            state,
            self._settings.post_logout_redirect_url,
        )
        return (url, state) if url else (front_page, None)


AuthSettings = NamedDependency[Settings]
Login = NamedDependency[LoginService]


def error_page(reason: str, settings: Settings, language: Language = "nb") -> Template:
    title, message = error_text(reason, language)
    return Template(
        template_name="error.html",
        context={
            "title": title,
            "message": message,
            "home_url": f"{settings.portal_url}/",
            "home_text": home_link(language),
            "lang": language,
        },
        status_code=_STATUS.get(reason, 400),
        headers={"Cache-Control": "no-store"},
    )


def _set_cookie(
    response: Response[Any], settings: Settings, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        key=name,
        value=value,
        max_age=max_age,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def _delete_cookie(response: Response[Any], settings: Settings, name: str) -> None:
    response.set_cookie(
        key=name,
        value="",
        max_age=0,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


@get("/login")
async def login(
    request: Request[Any, Any, Any], settings: AuthSettings, login_service: Login
) -> Response[Any]:
    """Start a login: `?kind=guardian|staff&next=/relative/path&ui_locales=nb|nn|en`."""
    kind = request.query_params.get("kind")
    next_path = request.query_params.get("next", "/")
    ui_locales = request.query_params.get("ui_locales")
    language = language_of(request, settings)
    if kind not in ("guardian", "staff"):
        return error_page("kind", settings, language)
    if not is_safe_next_path(next_path):
        return error_page("next", settings, language)
    if ui_locales is not None and ui_locales not in UI_LOCALES:
        return error_page("ui_locales", settings, language)
    login_kind: Literal["guardian", "staff"] = "guardian" if kind == "guardian" else "staff"
    try:
        url, state = await login_service.start(login_kind, next_path, ui_locales)
    except LoginError as error:
        _log.warning("login could not start: %s", error)
        return error_page(error.reason, settings, language)
    response: Response[Any] = Redirect(url, status_code=303, headers={"Cache-Control": "no-store"})
    _set_cookie(response, settings, settings.login_cookie_name, state, _ATTEMPT_SECONDS)
    if ui_locales is not None:  # auth's own pages (errors, logout) speak it too
        _set_cookie(
            response, settings, language_cookie(settings), ui_locales, LANGUAGE_COOKIE_MAX_AGE
        )
    return response


@get("/callback")
async def callback(
    request: Request[Any, Any, Any], settings: AuthSettings, login_service: Login
) -> Response[Any]:
    """The provider's redirect back: check, redeem, create the session, go to `next`."""
    params = request.query_params
    state = params.get("state", "")
    try:
        if not state or len(state) > 256:
            raise LoginError("state", "no state in the response")
        completed = await login_service.finish(
            state=state,
            browser_state=request.cookies.get(settings.login_cookie_name),
            code=params.get("code"),
            response_iss=params.get("iss"),
            provider_error=params.get("error"),
            old_cookie=request.cookies.get(settings.session_cookie_name),
        )
    except LoginError as error:
        _log.warning("login refused: %s", error)
        page: Response[Any] = error_page(error.reason, settings, language_of(request, settings))
        _delete_cookie(page, settings, settings.login_cookie_name)
        return page
    response: Response[Any] = Redirect(
        settings.portal_url + completed.next_path,
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )
    _delete_cookie(response, settings, settings.login_cookie_name)
    _set_cookie(
        response,
        settings,
        settings.session_cookie_name,
        completed.cookie_value,
        settings.session_absolute_seconds,
    )
    return response


def _origin_allowed(request: Request[Any, Any, Any], settings: Settings) -> bool:
    # CSRF: see services.auth.csrf (Fetch Metadata, Origin, Referer; required in production).
    return request_is_from_allowed_origin(
        request.headers,
        (settings.portal_url, settings.auth_url),
        require_evidence=settings.mode is Mode.PRODUCTION,
    )


@post("/logout", status_code=303)
async def logout(
    request: Request[Any, Any, Any], settings: AuthSettings, login_service: Login
) -> Response[Any]:
    """End the session, clear the cookie, and log out at the identity provider too."""
    if not _origin_allowed(request, settings):
        return error_page("origin", settings, language_of(request, settings))
    url, state = await login_service.logout(request.cookies.get(settings.session_cookie_name))
    response: Response[Any] = Redirect(url, status_code=303, headers={"Cache-Control": "no-store"})
    _delete_cookie(response, settings, settings.session_cookie_name)
    if state is not None:
        _set_cookie(response, settings, _logout_cookie_name(settings), state, _ATTEMPT_SECONDS)
    return response


def _logout_cookie_name(settings: Settings) -> str:
    return "__Host-stafett_logout" if settings.secure_cookies else "stafett_logout"


@get("/logout/done")
async def logout_done(request: Request[Any, Any, Any], settings: AuthSettings) -> Response[Any]:
    """Where the provider sends the browser after its logout: on to the portal's front page,
    if `state` is the one this browser's logout sent; else an error page (the session at
    auth has ended either way)."""
    state = request.query_params.get("state", "")
    expected = request.cookies.get(_logout_cookie_name(settings), "")
    response: Response[Any]
    if state and expected and hmac.compare_digest(state.encode(), expected.encode()):
        response = Redirect(
            f"{settings.portal_url}/", status_code=303, headers={"Cache-Control": "no-store"}
        )
    else:
        _log.warning("logout return refused: state does not match this browser's logout")
        response = error_page("logout_state", settings, language_of(request, settings))
    _delete_cookie(response, settings, _logout_cookie_name(settings))
    return response
