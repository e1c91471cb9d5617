"""The portal's calls to auth: token exchange, the session context and the directory.

The portal authenticates as an OAuth client with `private_key_jwt` (RFC 7523, RFC 7521 §4.2):
each call carries a fresh, short-lived JWT signed with the portal's Ed25519 key. For the person
whose request it serves, it passes the browser's session cookie value as the subject token of an
RFC 8693 token exchange. Access tokens are one-shot (logg and auth's directory refuse a `jti`
they have seen), so every call to logg or to the directory gets a fresh token and none is cached:
the exchange is one loopback POST. Public keys and names from the directory and the list of
service units are cached in process, bounded.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

import httpx
import msgspec
from joserfc import jwt
from joserfc.jwk import OKPKey

from shared.crypto.keys import PublicKeys

__all__ = [
    "AUDIENCE_AUTH",
    "AUDIENCE_LOGG",
    "AdminImportLineError",
    "AdminImportRejectedError",
    "AdminImportResult",
    "AdminRefusedError",
    "AdminServiceUnit",
    "AdminStaffMember",
    "AuthClient",
    "AuthRefusedError",
    "AuthUnavailableError",
    "MunicipalSettings",
    "NotificationPreferences",
    "Principal",
    "PrincipalKind",
    "ServiceRef",
    "ServiceUnit",
    "SessionContext",
    "SessionExpiredError",
]

AUDIENCE_LOGG = "stafett-logg"
AUDIENCE_AUTH = "stafett-auth"
_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN, not a secret
_SESSION_TOKEN_TYPE = "urn:stafettlogg:token-type:session"  # noqa: S105 - a URN, not a secret
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_LIFETIME = 60
_PRINCIPAL_TTL = 60.0
_SERVICES_TTL = 60.0
_SETTINGS_TTL = 60.0
_TIMEOUT = httpx.Timeout(5.0)

_log = logging.getLogger("stafett.portal.auth_client")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

PrincipalKind = Literal["person", "service"]


class AuthUnavailableError(Exception):
    """auth did not answer, answered with a server error, or refused the portal itself."""


class SessionExpiredError(Exception):
    """auth no longer knows the browser's session: the person must log in again."""


class AuthRefusedError(Exception):
    """auth refused a directory request (bad input, not allowed, unknown)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"auth answered {status}")
        self.status = status


class ServiceRef(msgspec.Struct, frozen=True):
    id: str
    name: str


class SessionContext(msgspec.Struct, frozen=True):
    """Who is logged in, with their private keys. Lives only for one request."""

    subject: str
    role: Literal["guardian", "staff"]
    name: str
    acr: str
    keys: bytes  # shared.crypto.keys.ParticipantKeys.to_bytes()
    service: ServiceRef | None = None
    service_keys: bytes | None = None
    expires_at: str | int | float | None = None
    admin: bool = False  # a municipal administrator, as auth's directory says now
    # The service units a staff member may act for (`AuthClient.act_for_service`).
    services: list[ServiceRef] = msgspec.field(default_factory=list)

    def __repr__(self) -> str:  # never print private keys
        return f"SessionContext(subject={self.subject!r}, role={self.role!r})"


class ServiceUnit(msgspec.Struct, frozen=True):
    id: str
    name: str
    hpke_public: bytes
    sign_public: bytes

    def public_keys(self) -> PublicKeys:
        return PublicKeys(hpke_public=self.hpke_public, sign_public=self.sign_public)


class Principal(msgspec.Struct, frozen=True):
    """A person or service unit as auth's directory vouches for it."""

    kind: PrincipalKind
    id: str
    name: str
    hpke_public: bytes
    sign_public: bytes

    def public_keys(self) -> PublicKeys:
        return PublicKeys(hpke_public=self.hpke_public, sign_public=self.sign_public)


class _PersonLookup(msgspec.Struct, frozen=True):
    subject: str
    name: str
    hpke_public: bytes
    sign_public: bytes


class _TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - a token type name, not a secret
    issued_token_type: str | None = None


class _OAuthError(msgspec.Struct, frozen=True):
    error: str | None = None


_K = TypeVar("_K")
_V = TypeVar("_V")


class _BoundedCache(Generic[_K, _V]):
    """A small LRU map whose entries expire at a given monotonic time."""

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._max = max_entries
        self._clock = clock
        self._items: OrderedDict[_K, tuple[float, _V]] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires_at, value = item
        if self._clock() >= expires_at:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: _K, value: _V, expires_at: float) -> None:
        self._items[key] = (expires_at, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)


class AuthClient:
    """Typed calls to auth on behalf of the portal and the person it serves."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        auth_url: str,
        client_id: str,
        client_key: OKPKey,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._auth_url = auth_url.rstrip("/")
        self._client_id = client_id
        self._client_key = client_key
        self._clock = clock
        self._principals: _BoundedCache[tuple[str, str], Principal] = _BoundedCache(2_000, clock)
        self._services: _BoundedCache[str, list[ServiceUnit]] = _BoundedCache(1, clock)
        self._settings: _BoundedCache[str, MunicipalSettings] = _BoundedCache(1, clock)

    def client_assertion(self) -> str:
        """A fresh private_key_jwt assertion (RFC 7523 §3): iss = sub = our client id, aud =
        auth's base URL, a unique jti, valid for 60 seconds."""
        now = int(time.time())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._auth_url,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + _ASSERTION_LIFETIME,
        }
        header = {"alg": "Ed25519", "kid": self._client_key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._client_key, algorithms=["Ed25519"])

    def _client_auth(self) -> dict[str, str]:
        return {"client_assertion_type": _JWT_BEARER, "client_assertion": self.client_assertion()}

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(
                method, f"{self._auth_url}{path}", timeout=_TIMEOUT, **kwargs
            )
        except httpx.HTTPError as error:
            _log.warning("auth unreachable on %s %s: %s", method, path, type(error).__name__)
            raise AuthUnavailableError from error
        if response.status_code >= 500:
            _log.warning("auth answered %s on %s %s", response.status_code, method, path)
            raise AuthUnavailableError
        return response

    def _check_session_call(self, response: httpx.Response, path: str) -> None:
        if response.status_code < 400:
            return
        error = _decode_or_none(response.content, _OAuthError)
        if response.status_code == 401 and error is not None and error.error == "invalid_client":
            _log.error("auth refused the portal's client authentication on %s", path)
            raise AuthUnavailableError
        if response.status_code in {400, 401, 403}:
            raise SessionExpiredError
        raise AuthUnavailableError

    async def session_context(self, session_cookie: str) -> SessionContext:
        """The logged-in person's context and private keys, fetched afresh (never cached)."""
        response = await self._send(
            "POST", "/session", data={"subject_token": session_cookie, **self._client_auth()}
        )
        self._check_session_call(response, "/session")
        context = _decode_or_none(response.content, SessionContext)
        if context is None:
            _log.error("auth sent a session context the portal cannot read")
            raise AuthUnavailableError
        self._refresh_name(context.subject, context.name)
        return context

    def _refresh_name(self, subject: str, name: str) -> None:
        # auth names a guardian "unknown" until their first login; when the portal sees the
        # person logged in, a cached stale name is corrected at once.
        cached = self._principals.get(("person", subject))
        if cached is not None and cached.name != name:
            self._principals.put(
                ("person", subject),
                msgspec.structs.replace(cached, name=name),
                self._clock() + _PRINCIPAL_TTL,
            )

    async def access_token(self, session_cookie: str, audience: str) -> str:
        """A fresh access token for `audience` on behalf of the session's person, good for
        exactly one call (never cached: a second use is refused as a replay)."""
        response = await self._send(
            "POST",
            "/token",
            data={
                "grant_type": _TOKEN_EXCHANGE,
                "subject_token": session_cookie,
                "subject_token_type": _SESSION_TOKEN_TYPE,
                "audience": audience,
                **self._client_auth(),
            },
        )
        self._check_session_call(response, "/token")
        token = _decode_or_none(response.content, _TokenResponse)
        if token is None:
            _log.error("auth sent a token response the portal cannot read")
            raise AuthUnavailableError
        return token.access_token

    async def _directory(
        self, session_cookie: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        token = await self.access_token(session_cookie, AUDIENCE_AUTH)
        response = await self._send(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        if response.status_code == 401:
            raise SessionExpiredError
        if response.status_code >= 400:
            raise AuthRefusedError(response.status_code)
        return response

    async def services(self, session_cookie: str) -> list[ServiceUnit]:
        """All service units in the directory (cached for a minute)."""
        cached = self._services.get("all")
        if cached is not None:
            return cached
        response = await self._directory(session_cookie, "GET", "/directory/services")
        services = _decode_or_none(response.content, list[ServiceUnit])
        if services is None:
            raise AuthUnavailableError
        self._services.put("all", services, self._clock() + _SERVICES_TTL)
        for unit in services:
            self._principals.put(
                ("service", unit.id),
                Principal("service", unit.id, unit.name, unit.hpke_public, unit.sign_public),
                self._clock() + _PRINCIPAL_TTL,
            )
        return services

    async def lookup_person(self, session_cookie: str, pid: str) -> Principal:
        """Find (or have auth create) a guardian by fødselsnummer. The pid goes to auth only.
        Raises AuthRefusedError(400) for a number auth does not accept, AuthRefusedError(403) if the
        caller is not staff."""
        response = await self._directory(
            session_cookie, "POST", "/directory/persons/lookup", json={"pid": pid}
        )
        person = _decode_or_none(response.content, _PersonLookup)
        if person is None:
            raise AuthUnavailableError
        # Not cached: a guardian auth has just created carries a placeholder name.
        return Principal(
            "person", person.subject, person.name, person.hpke_public, person.sign_public
        )

    async def principal(self, session_cookie: str, kind: PrincipalKind, id_: str) -> Principal:
        """A person's or service unit's name and public keys, as auth vouches for them."""
        cached = self._principals.get((kind, id_))
        if cached is not None:
            return cached
        if not _ID.fullmatch(id_):  # ids come from stored data; never let one shape the URL
            raise AuthRefusedError(404)
        response = await self._directory(
            session_cookie, "GET", f"/directory/principals/{kind}/{id_}"
        )
        principal = _decode_or_none(response.content, Principal)
        if principal is None or principal.kind != kind or principal.id != id_:
            raise AuthUnavailableError
        self._principals.put((kind, id_), principal, self._clock() + _PRINCIPAL_TTL)
        return principal

    async def healthy(self) -> bool:
        try:
            response = await self._http.get(f"{self._auth_url}/healthz", timeout=_TIMEOUT)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # -- the administrators' directory (auth's /admin API; auth checks the admin claim) --------

    async def _admin_call(
        self, session_cookie: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        token = await self.access_token(session_cookie, AUDIENCE_AUTH)
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        response = await self._send(method, f"/admin{path}", headers=headers, **kwargs)
        if response.status_code == 401:
            raise SessionExpiredError
        if response.status_code >= 400:
            problem = _decode_or_none(response.content, _AdminProblem) or _AdminProblem()
            slug = problem.type.rpartition(":")[2]
            if path == "/staff/import" and slug == "invalid-staff-file":
                raise AdminImportRejectedError(problem.errors)
            raise AdminRefusedError(response.status_code, slug)
        return response

    async def admin_services(self, session_cookie: str) -> list[AdminServiceUnit]:
        """Every service unit, active or not, with its count of active staff."""
        response = await self._admin_call(session_cookie, "GET", "/services")
        return _decoded(response.content, list[AdminServiceUnit])

    async def admin_add_service(
        self, session_cookie: str, service_id: str, name: str
    ) -> AdminServiceUnit:
        """Create a service unit (auth makes its keys). AdminRefusedError(409) if the id is
        taken, (400) if auth finds the id or name invalid."""
        response = await self._admin_call(
            session_cookie, "POST", "/services", json={"id": service_id, "name": name}
        )
        self._services = _BoundedCache(1, self._clock)  # the cached list is out of date
        return _decoded(response.content, AdminServiceUnit)

    async def admin_staff(self, session_cookie: str) -> list[AdminStaffMember]:
        response = await self._admin_call(session_cookie, "GET", "/staff")
        return _decoded(response.content, list[AdminStaffMember])

    async def admin_add_staff(
        self,
        session_cookie: str,
        *,
        pid: str,
        name: str,
        service_ids: list[str],
        admin: bool,
        email: str | None = None,
    ) -> AdminStaffMember:
        """Register a staff member. The pid goes to auth only (stored there as an HMAC);
        `email` is where notifications go (AdminRefusedError "invalid-email" if auth says no)."""
        body: dict[str, Any] = {"pid": pid, "name": name, "service_ids": service_ids}
        body["admin"] = admin
        if email is not None:
            body["email"] = email
        response = await self._admin_call(session_cookie, "POST", "/staff", json=body)
        return _decoded(response.content, AdminStaffMember)

    async def admin_deactivate_staff(self, session_cookie: str, subject: str) -> AdminStaffMember:
        if not _ID.fullmatch(subject):
            raise AdminRefusedError(404, "not-found")
        response = await self._admin_call(session_cookie, "POST", f"/staff/{subject}/deactivate")
        return _decoded(response.content, AdminStaffMember)

    async def admin_import_staff(self, session_cookie: str, csv_body: bytes) -> AdminImportResult:
        """Send a staff CSV file. AdminImportRejectedError lists the lines to correct."""
        response = await self._admin_call(
            session_cookie,
            "POST",
            "/staff/import",
            content=csv_body,
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
        return _decoded(response.content, AdminImportResult)

    # -- the person's own notification choice (auth's /notifications/preferences) ----------

    async def notification_preferences(self, session_cookie: str) -> NotificationPreferences:
        response = await self._directory(session_cookie, "GET", "/notifications/preferences")
        return _decoded(response.content, NotificationPreferences)

    async def set_notification_preferences(
        self, session_cookie: str, preferences: NotificationPreferences
    ) -> NotificationPreferences:
        """Store the person's choice; AuthRefusedError(400) when auth refuses the address."""
        response = await self._directory(
            session_cookie,
            "PUT",
            "/notifications/preferences",
            json=msgspec.to_builtins(preferences),
        )
        return _decoded(response.content, NotificationPreferences)

    # -- the municipality's settings (auth's /municipality/settings) ---------------------------

    async def municipal_settings(self, session_cookie: str) -> MunicipalSettings:
        """The age for own consent and the retention of closed logs; anyone signed in reads them.
        The same for everyone, so one answer serves every viewer for a minute."""
        cached = self._settings.get("municipality")
        if cached is not None:
            return cached
        response = await self._municipality_call(session_cookie, "GET")
        settings = _decoded(response.content, MunicipalSettings)
        self._settings.put("municipality", settings, self._clock() + _SETTINGS_TTL)
        return settings

    def forget_municipal_settings(self) -> None:
        """Make the next read ask auth, for a decision that needs the settings as they are now."""
        self._settings = _BoundedCache(1, self._clock)

    async def change_municipal_settings(
        self, session_cookie: str, *, youth_consent_age: int, retention_years: int
    ) -> MunicipalSettings:
        """Change them (administrators; AdminRefusedError(403) for anyone else)."""
        body = {"youth_consent_age": youth_consent_age, "retention_years": retention_years}
        response = await self._municipality_call(session_cookie, "PUT", json=body)
        self.forget_municipal_settings()  # the cached answer is out of date
        return _decoded(response.content, MunicipalSettings)

    async def _municipality_call(
        self, session_cookie: str, method: str, **kwargs: Any
    ) -> httpx.Response:
        token = await self.access_token(session_cookie, AUDIENCE_AUTH)
        headers = {"Authorization": f"Bearer {token}"}
        response = await self._send(method, "/municipality/settings", headers=headers, **kwargs)
        if response.status_code == 401:
            raise SessionExpiredError
        if response.status_code >= 400:
            problem = _decode_or_none(response.content, _AdminProblem) or _AdminProblem()
            raise AdminRefusedError(response.status_code, problem.type.rpartition(":")[2])
        return response

    async def act_for_service(self, session_cookie: str, service_id: str) -> SessionContext:
        """Make the browser's session act for the service unit `service_id` (one of the
        context's `services`); returns the new context. auth checks the membership and that the
        unit is active, and seals the unit's keys into the session. Raises AuthRefusedError(403)
        when auth refuses the unit, AuthRefusedError(400) for an id it does not accept, and
        SessionExpiredError when the session is gone."""
        response = await self._send(
            "POST",
            "/session/service",
            data={"subject_token": session_cookie, "service_id": service_id, **self._client_auth()},
        )
        if response.status_code in {400, 403}:
            error = _decode_or_none(response.content, _OAuthError)
            if error is not None and error.error in {"access_denied", "invalid_request"}:
                raise AuthRefusedError(response.status_code)
        self._check_session_call(response, "/session/service")
        context = _decode_or_none(response.content, SessionContext)
        if context is None:
            _log.error("auth sent a session context the portal cannot read")
            raise AuthUnavailableError
        return context


_T = TypeVar("_T")


def _decode_or_none(content: bytes, type_: type[_T]) -> _T | None:
    try:
        return msgspec.json.decode(content, type=type_)
    except msgspec.DecodeError:
        return None


def _decoded(content: bytes, type_: type[_T]) -> _T:
    value = _decode_or_none(content, type_)
    if value is None:
        _log.error("auth sent an answer the portal cannot read")
        raise AuthUnavailableError
    return value


class NotificationPreferences(msgspec.Struct, frozen=True):
    """Where auth e-mails the person that something is waiting (never what), and whether."""

    email: str | None
    enabled: bool
    language: str = "nb"


class MunicipalSettings(msgspec.Struct, frozen=True):
    youth_consent_age: int  # 15 or 16
    retention_years: int
    updated_at: int | None = None


class AdminServiceUnit(msgspec.Struct, frozen=True):
    id: str
    name: str
    active: bool
    staff_count: int


class AdminStaffMember(msgspec.Struct, frozen=True):
    subject: str
    name: str
    service_ids: list[str]
    admin: bool
    active: bool
    email: str | None = None


class AdminImportResult(msgspec.Struct, frozen=True):
    created: int
    updated: int
    unchanged: int


class AdminImportLineError(msgspec.Struct, frozen=True):
    line: int
    reason: str


class _AdminProblem(msgspec.Struct, frozen=True):
    type: str = ""
    errors: list[AdminImportLineError] = []


class AdminRefusedError(AuthRefusedError):
    """auth refused an administrator's request; `slug` names the problem type."""

    def __init__(self, status: int, slug: str) -> None:
        super().__init__(status)
        self.slug = slug


class AdminImportRejectedError(Exception):
    """auth refused a staff file as a whole; nothing was imported."""

    def __init__(self, errors: list[AdminImportLineError]) -> None:
        super().__init__(f"{len(errors)} lines to correct")
        self.errors = errors
