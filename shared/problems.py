"""Errors as RFC 9457 problem details (`application/problem+json`) for the JSON services.

Every error a client can cause has a stable `type` and a `detail` a person can act on.
Unexpected exceptions become a bare 500 that reveals nothing; the traceback goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import (
    ClientException,
    MethodNotAllowedException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

__all__ = ["Problem", "ProblemError", "problem_exception_handlers", "problem_type"]

_log = logging.getLogger("stafett.problems")
PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:stafettlogg:problem:"


def problem_type(slug: str) -> str:
    return _TYPE_PREFIX + slug


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemError(HTTPException):
    """Raise to answer with a problem of a stable `slug` type."""

    def __init__(
        self,
        status_code: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail or title, headers=headers)
        self.slug = slug
        self.title = title
        self.problem_detail = detail


_DEFAULT_SLUGS: dict[type[HTTPException], tuple[str, str]] = {
    ValidationException: ("invalid-request", "The request is not valid"),
    NotAuthorizedException: ("unauthenticated", "A valid access token is required"),
    PermissionDeniedException: ("forbidden", "You may not do this"),
    NotFoundException: ("not-found", "Nothing is here"),
    MethodNotAllowedException: ("method-not-allowed", "This method is not allowed here"),
}


def _problem_from_http_exception(exc: HTTPException) -> Problem:
    if isinstance(exc, ProblemError):
        return Problem(problem_type(exc.slug), exc.title, exc.status_code, exc.problem_detail)
    slug, title = _DEFAULT_SLUGS.get(type(exc), ("", ""))
    if not slug:
        slug, title = _slug_for_status(exc.status_code)
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [_safe_error(item) for item in exc.extra if isinstance(item, dict)]
    detail = exc.detail if exc.detail and exc.detail != title else None
    return Problem(problem_type(slug), title, exc.status_code, detail, errors or None)


def _slug_for_status(status: int) -> tuple[str, str]:
    return {
        400: ("invalid-request", "The request is not valid"),
        401: ("unauthenticated", "A valid access token is required"),
        403: ("forbidden", "You may not do this"),
        404: ("not-found", "Nothing is here"),
        405: ("method-not-allowed", "This method is not allowed here"),
        409: ("conflict", "This conflicts with what is stored"),
        413: ("too-large", "The request body is too large"),
        415: ("unsupported-media-type", "Send application/json"),
        429: ("rate-limited", "Too many requests; wait a little and try again"),
    }.get(status, ("client-error", "The request could not be served"))


def _safe_error(item: dict[str, Any]) -> dict[str, Any]:
    # Keep the field and the reason; never echo the value a client sent (it may be sensitive).
    return {key: value for key, value in item.items() if key in {"key", "message", "source"}}


def _respond(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _http_exception_handler(
    _request: Request[Any, Any, Any], exc: HTTPException
) -> Response[bytes]:
    problem = _problem_from_http_exception(exc)
    if problem.status >= HTTP_500_INTERNAL_SERVER_ERROR:
        _log.error("server error %s", problem.status)
    return _respond(problem, exc.headers)


def _unexpected_exception_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[bytes]:
    _log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(
        Problem(problem_type("internal-error"), "Something went wrong on our side", 500)
    )


def problem_exception_handlers() -> ExceptionHandlersMap:
    """Handlers that turn every error into problem+json."""
    return {
        HTTPException: _http_exception_handler,
        ClientException: _http_exception_handler,
        Exception: _unexpected_exception_handler,
    }
