"""The portal's endpoints: token exchange (RFC 8693 shape) and the session context.

Both authenticate the portal with `private_key_jwt` and take the browser's session cookie value as
the subject token. Errors follow RFC 6749 §5.2: JSON `{error, error_description}`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import FormMultiDict

from services.auth.clients import ClientAuthenticator, ClientAuthError, Clients
from services.auth.directory import Directory
from services.auth.sessions import ActiveSession, Sessions, SessionStore
from services.auth.settings import AUTH_AUDIENCE, LOGG_AUDIENCE
from services.auth.tokens import TokenIssuer

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "SESSION_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "ServiceRef",
    "SessionContext",
    "TokenResponse",
    "exchange_token",
    "session_context",
]

# These are URNs naming token types, not secrets.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
SESSION_TOKEN_TYPE = "urn:stafettlogg:token-type:session"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
_AUDIENCES = frozenset({LOGG_AUDIENCE, AUTH_AUDIENCE})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


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


async def _read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise _OAuthError(400, "invalid_request", "send application/x-www-form-urlencoded")
    form: FormMultiDict = await request.form()
    single: dict[str, str] = {}
    for key in form:
        values = form.getall(key)
        if len(values) != 1 or not isinstance(values[0], str):
            raise _OAuthError(400, "invalid_request", f"{key} must be sent exactly once")
        single[key] = values[0]
    return single


async def _authenticated_session(
    form: dict[str, str],
    clients: ClientAuthenticator,
    sessions: SessionStore,
    *,
    unknown_session_status: int,
) -> ActiveSession:
    try:
        await clients.authenticate(form)
    except ClientAuthError as error:
        raise _OAuthError(401, "invalid_client", str(error)) from error
    subject_token_type = form.get("subject_token_type", SESSION_TOKEN_TYPE)
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
            unknown_session_status, "invalid_grant", "the session is unknown or expired"
        )
    return session


@post("/token", status_code=200)
async def exchange_token(
    request: Request[Any, Any, Any],
    clients: Clients,
    sessions: Sessions,
    directory: Directory,
    token_issuer: TokenIssuer,
) -> Response[Any]:
    """Exchange the portal's view of a browser session for a service token of one audience."""
    try:
        form = await _read_form(request)
        if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            raise _OAuthError(400, "unsupported_grant_type", "only token exchange is supported")
        session = await _authenticated_session(form, clients, sessions, unknown_session_status=400)
        audience = form.get("audience")
        if audience not in _AUDIENCES:
            raise _OAuthError(
                400, "invalid_target", "audience must be stafett-logg or stafett-auth"
            )
        person = await directory.person(session.subject)
        if person is None:
            raise _OAuthError(400, "invalid_grant", "the session's person no longer exists")
        token, lifetime = token_issuer.issue(
            subject=session.subject,
            audience=audience,
            role=session.role,
            acr=session.acr,
            sign_public=person.sign_public,
            service=session.service_id,
        )
    except _OAuthError as error:
        return _error_response(error)
    return Response(TokenResponse(token, ACCESS_TOKEN_TYPE, "Bearer", lifetime), headers=_NO_STORE)


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
        service = None
        if session.service_id is not None:
            unit = await directory.service_unit(session.service_id)
            service = ServiceRef(unit.id, unit.name) if unit is not None else None
    except _OAuthError as error:
        return _error_response(error)
    context = SessionContext(
        subject=session.subject,
        role=session.role,
        name=person.name,
        acr=session.acr,
        service=service,
        keys=session.secrets.person_keys,
        service_keys=session.secrets.service_keys,
        expires_at=session.expires_at,
    )
    return Response(context, headers=_NO_STORE)
