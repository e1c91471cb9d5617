"""The portal's endpoints: token exchange (RFC 8693) and the session context.

Both authenticate the portal with `private_key_jwt` and take the browser's session cookie value as
the subject token. Errors follow RFC 6749 §5.2: JSON `{error, error_description}`, no-store.
Server to server only: no cookie is read, so a forged browser request has nothing to borrow (no
CSRF defence needed; see services.auth.csrf). Rate limits: services.auth.ratelimit.

Token exchange, as RFC 8693 §2 has it, narrowed to what stafettlogg needs:

- `grant_type` must be `urn:ietf:params:oauth:grant-type:token-exchange`
  (missing: `invalid_request`; another grant: `unsupported_grant_type`).
- the client authenticates (`private_key_jwt`, RFC 7523); failure: 401 `invalid_client`.
- `subject_token_type` is required and must be `urn:stafettlogg:token-type:session`;
  `subject_token` is the session cookie value. A missing, unknown or expired session, or a person
  who no longer exists or is deactivated: `invalid_request` (§2.2.2 requires that code for an
  invalid subject token; `invalid_grant` is not used here).
- the target is exactly one service, named by `audience` (a logical name: `stafett-logg` or
  `stafett-auth`) or by `resource` (its absolute base URL, RFC 8707), or both naming the same one.
  None: `invalid_request`; an unknown one, several, or two that disagree: `invalid_target`.
- `requested_token_type`, if sent, must be the access-token type; `scope` is not supported
  (`invalid_scope`); `actor_token` (delegation) is not supported (`invalid_request`).
- the answer: `access_token`, `issued_token_type` =
  `urn:ietf:params:oauth:token-type:access_token`, `token_type` = `Bearer`, `expires_in` (≤ 300).

The session context (`POST /session`) names the service unit the session acts for and lists the
units the person may act for (`services`); `POST /session/service` with `service_id` switches the
session to another of them (a staff member may work for several).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency

from services.auth import models
from services.auth.clients import ClientAuthenticator, ClientAuthError, Clients
from services.auth.directory import Directory, DirectoryService, is_acting_admin
from services.auth.sessions import ActiveSession, Sessions, SessionStore
from services.auth.settings import AUTH_AUDIENCE, LOGG_AUDIENCE, Settings
from services.auth.tokens import TokenIssuer

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "SESSION_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "ServiceRef",
    "SessionContext",
    "TokenResponse",
    "act_for_service",
    "exchange_token",
    "session_context",
]

# These are URNs naming token types, not secrets.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
SESSION_TOKEN_TYPE = "urn:stafettlogg:token-type:session"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
_AUDIENCES = frozenset({LOGG_AUDIENCE, AUTH_AUDIENCE})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SERVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    issued_token_type: str
    token_type: str
    expires_in: int


class ServiceRef(msgspec.Struct, frozen=True):
    id: str
    name: str


class SessionContext(msgspec.Struct, frozen=True):
    subject: str
    role: str
    name: str
    acr: str
    service: ServiceRef | None
    keys: bytes  # ParticipantKeys.to_bytes() of the person (base64 on the wire)
    service_keys: bytes | None  # the staff member's service unit's keys
    expires_at: int  # Unix seconds: the earlier of the idle and the absolute limit
    admin: bool = False  # an active municipal administrator (staff only), from the directory
    # The active units the person may act for (staff only), oldest membership first.
    services: list[ServiceRef] = msgspec.field(default_factory=list)


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _error_response(error: _OAuthError) -> Response[dict[str, str]]:
    headers = dict(_NO_STORE)
    if error.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return Response(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers=headers,
    )


async def _read_form(
    request: Request[Any, Any, Any], *, targets: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """The form's parameters, each sent once. With `targets`, the values of `audience` and
    `resource` (which RFC 8693 lets repeat) are collected there instead."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise _OAuthError(400, "invalid_request", "send application/x-www-form-urlencoded")
    form: FormMultiDict = await request.form()
    single: dict[str, str] = {}
    for key in form:
        values = form.getall(key)
        if not all(isinstance(value, str) for value in values):
            raise _OAuthError(400, "invalid_request", f"{key} must be text")
        if targets is not None and key in {"audience", "resource"}:
            targets[key] = [str(value) for value in values]
            continue
        if len(values) != 1:
            raise _OAuthError(400, "invalid_request", f"{key} must be sent exactly once")
        single[key] = values[0]
    return single


def _target_audience(targets: dict[str, list[str]], settings: Settings) -> str:
    """The one audience the client asks for, by `audience` and/or `resource` (RFC 8693 §2.1)."""
    by_resource = {settings.logg_url: LOGG_AUDIENCE, settings.auth_url: AUTH_AUDIENCE}
    named: set[str] = set()
    for audience in targets.get("audience", []):
        if audience not in _AUDIENCES:
            raise _OAuthError(
                400, "invalid_target", "audience must be stafett-logg or stafett-auth"
            )
        named.add(audience)
    for resource in targets.get("resource", []):
        served = by_resource.get(resource.rstrip("/"))
        if served is None:
            raise _OAuthError(400, "invalid_target", "resource names no service auth issues for")
        named.add(served)
    if not named:
        raise _OAuthError(400, "invalid_request", "name the target service with audience")
    if len(named) != 1 or sum(len(values) for values in targets.values()) > 2:
        raise _OAuthError(400, "invalid_target", "a token is for exactly one service")
    return named.pop()


async def _authenticated_session(
    form: dict[str, str],
    clients: ClientAuthenticator,
    sessions: SessionStore,
    *,
    unknown_session_status: int,
    unknown_session_error: str = "invalid_grant",
    require_token_type: bool = False,
) -> ActiveSession:
    try:
        await clients.authenticate(form)
    except ClientAuthError as error:
        raise _OAuthError(401, "invalid_client", str(error)) from error
    default_type = None if require_token_type else SESSION_TOKEN_TYPE
    subject_token_type = form.get("subject_token_type", default_type)
    if subject_token_type != SESSION_TOKEN_TYPE:
        raise _OAuthError(
            400, "invalid_request", f"subject_token_type must be {SESSION_TOKEN_TYPE}"
        )
    subject_token = form.get("subject_token", "")
    if not subject_token or len(subject_token) > 200:
        raise _OAuthError(400, "invalid_request", "subject_token is missing")
    session = await sessions.open(subject_token)
    if session is None:
        raise _OAuthError(
            unknown_session_status, unknown_session_error, "the session is unknown or expired"
        )
    return session


@post("/token", status_code=200)
async def exchange_token(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
    clients: Clients,
    sessions: Sessions,
    directory: Directory,
    token_issuer: TokenIssuer,
) -> Response[Any]:
    """Exchange the portal's view of a browser session for a service token of one audience.

    Guarantees: a token only for an authenticated client, a live session whose person exists
    and is not deactivated, and exactly one audience; a fresh `jti` each time (the token is
    one-shot at logg and at the directory). Every refusal is an RFC 6749 §5.2 error, never a 500
    for bad input. Does not rate-limit (see the hardening settings)."""
    try:
        targets: dict[str, list[str]] = {}
        form = await _read_form(request, targets=targets)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise _OAuthError(400, "invalid_request", "grant_type is missing")
        if grant_type != TOKEN_EXCHANGE_GRANT:
            raise _OAuthError(400, "unsupported_grant_type", "only token exchange is supported")
        session = await _authenticated_session(
            form,
            clients,
            sessions,
            unknown_session_status=400,
            unknown_session_error="invalid_request",
            require_token_type=True,
        )
        if "actor_token" in form or "actor_token_type" in form:
            raise _OAuthError(400, "invalid_request", "delegation (actor_token) is not supported")
        if "scope" in form:
            raise _OAuthError(400, "invalid_scope", "scopes are not supported")
        if form.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise _OAuthError(
                400, "invalid_request", f"requested_token_type must be {ACCESS_TOKEN_TYPE}"
            )
        audience = _target_audience(targets, settings)
        person = await directory.person(session.subject)
        if person is None or person.deactivated_at is not None:
            raise _OAuthError(400, "invalid_request", "the session's person may not act")
        token, lifetime = await token_issuer.issue(
            subject=session.subject,
            audience=audience,
            role=session.role,
            acr=session.acr,
            sign_public=person.sign_public,
            service=session.service_id,
            admin=is_acting_admin(person, session.role),
        )
    except _OAuthError as error:
        return _error_response(error)
    return Response(TokenResponse(token, ACCESS_TOKEN_TYPE, "Bearer", lifetime), headers=_NO_STORE)


async def _context_of(
    session: ActiveSession, person: models.PersonRow, directory: DirectoryService
) -> SessionContext:
    units = await directory.units_to_act_for(person.subject) if session.role == "staff" else []
    services = [ServiceRef(unit.id, unit.name) for unit in units]
    service = next((ref for ref in services if ref.id == session.service_id), None)
    if service is None and session.service_id is not None:
        unit = await directory.service_unit(session.service_id)
        service = ServiceRef(unit.id, unit.name) if unit is not None else None
    return SessionContext(
        subject=session.subject,
        role=session.role,
        name=person.name,
        acr=session.acr,
        service=service,
        keys=session.secrets.person_keys,
        service_keys=session.secrets.service_keys,
        expires_at=session.expires_at,
        admin=is_acting_admin(person, session.role),
        services=services,
    )


@post("/session", status_code=200)
async def session_context(
    request: Request[Any, Any, Any],
    clients: Clients,
    sessions: Sessions,
    directory: Directory,
) -> Response[Any]:
    """The logged-in person's context and private keys, for the portal to use in one request."""
    try:
        session = await _authenticated_session(
            await _read_form(request), clients, sessions, unknown_session_status=401
        )
        person = await directory.person(session.subject)
        if person is None:
            raise _OAuthError(401, "invalid_grant", "the session's person no longer exists")
        context = await _context_of(session, person, directory)
    except _OAuthError as error:
        return _error_response(error)
    return Response(context, headers=_NO_STORE)


@post("/session/service", status_code=200)
async def act_for_service(
    request: Request[Any, Any, Any],
    clients: Clients,
    sessions: Sessions,
    directory: Directory,
) -> Response[Any]:
    """Make the browser session act for the service unit `service_id`; answers the new session
    context. Same client authentication and subject token as `/session`.

    Guarantees: only for a live session of an active staff member who works for `service_id`,
    an active unit, as the directory says at this moment (else 403 `access_denied`); the unit's
    private keys are unsealed from custody (KEK) and sealed into the session under the
    cookie's secret, replacing the previous unit's, so service tokens issued afterwards carry
    the new `service`. A deactivation or membership change racing the switch is caught by
    checking again after the write, which then ends the session (as that change would have).
    Does not: give the session a new id (the person is the same; the cookie stays valid)."""
    try:
        form = await _read_form(request)
        session = await _authenticated_session(form, clients, sessions, unknown_session_status=401)
        service_id = form.get("service_id", "")
        if not _SERVICE_ID.fullmatch(service_id):
            raise _OAuthError(400, "invalid_request", "service_id is missing or malformed")
        person = await directory.person(session.subject)
        if person is None or person.deactivated_at is not None:
            raise _OAuthError(401, "invalid_grant", "the session's person may not act")
        unit = await directory.unit_to_act_for(session.subject, service_id)
        if session.role != "staff" or unit is None:
            raise _OAuthError(
                403, "access_denied", "not an active member of an active service unit"
            )
        subject_token = form["subject_token"]
        switched = await sessions.act_for_service(
            subject_token, unit.id, await directory.service_keys(unit)
        )
        if switched is None:
            raise _OAuthError(401, "invalid_grant", "the session is unknown or expired")
        if await directory.unit_to_act_for(session.subject, service_id) is None:
            await sessions.end(subject_token)
            raise _OAuthError(
                403, "access_denied", "not an active member of an active service unit"
            )
        context = await _context_of(switched, person, directory)
    except _OAuthError as error:
        return _error_response(error)
    return Response(context, headers=_NO_STORE)
