"""Every error a person can meet, as a page in their language (a fragment for htmx); no trace."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from services.portal.auth_client import AuthRefusedError, AuthUnavailableError, SessionExpiredError
from services.portal.i18n import N_
from services.portal.logg_client import LoggError, LoggUnavailableError
from services.portal.rendering import is_htmx, render
from services.portal.viewer import NotLoggedInError

__all__ = ["NO_ACCESS", "UNAVAILABLE", "error_page", "portal_exception_handlers"]

_log = logging.getLogger("stafett.portal.errors")

NO_ACCESS = N_("Du har ikke tilgang til denne stafettloggen")
UNAVAILABLE = N_("Tjenesten er utilgjengelig akkurat nå")

_PAGES: dict[int, tuple[str, str]] = {
    400: (
        N_("Vi forsto ikke forespørselen"),
        N_("Gå tilbake og prøv igjen. Hvis det skjer igjen, kan du starte fra forsiden."),
    ),
    403: (
        NO_ACCESS,
        N_("Hvis du mener du skal ha tilgang, kan du ta kontakt med stafettholderen."),
    ),
    404: (
        N_("Vi fant ikke siden"),
        N_("Adressen kan være skrevet feil, eller siden finnes ikke lenger."),
    ),
    405: (N_("Dette går ikke her"), N_("Gå tilbake til forsiden og prøv derfra.")),
    413: (
        N_("Det du sendte, er for stort"),
        N_("Gå tilbake, gjør teksten kortere og prøv igjen."),
    ),
    500: (
        N_("Noe gikk galt hos oss"),
        N_("Det er ikke din feil. Prøv igjen om litt."),
    ),
    503: (UNAVAILABLE, N_("Prøv igjen om litt. Det du har lagret før, er trygt.")),
}
_CSRF_PAGE = (
    N_("Skjemaet var for gammelt"),
    N_(
        "Av sikkerhetshensyn må siden lastes på nytt før du sender. "
        "Gå tilbake, last siden på nytt og prøv igjen."
    ),
)


def error_page(
    request: Request[Any, Any, Any],
    status_code: int,
    *,
    heading: str | None = None,
    message: str | None = None,
) -> Response[Any]:
    default_heading, default_message = _PAGES.get(status_code, _PAGES[400])
    context = {
        "status_code": status_code,
        "heading": heading or default_heading,
        "message": message or default_message,
    }
    if is_htmx(request):
        return render(
            "error.html",
            context,
            block="error",
            status_code=status_code,
            headers={"HX-Retarget": "#main", "HX-Reswap": "innerHTML"},
        )
    return render("error.html", context, status_code=status_code)


def _to_front_page(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": "/"})
    return Redirect(path="/", status_code=303)


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.warning("a backend is unavailable: %s", type(exc).__name__)
    return error_page(request, 503)


def _logg_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, LoggError)
    if exc.status == 401:
        return _to_front_page(request, exc)
    if exc.status in {403, 404}:
        return error_page(request, exc.status)
    _log.warning("logg refused a request: %s %s", exc.status, exc.type)
    return error_page(request, 400)


def _auth_refused(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, AuthRefusedError)
    return error_page(request, exc.status if exc.status in {403, 404} else 400)


def _http_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, PermissionDeniedException):
        heading, message = _CSRF_PAGE if "csrf" in str(exc.detail).lower() else _PAGES[403]
        return error_page(request, 403, heading=heading, message=message)
    if isinstance(exc, NotFoundException):
        return error_page(request, 404)
    status = exc.status_code
    if status >= 500:
        _log.error("server error %s on %s", status, request.url.path)
        return error_page(request, 503 if status == 503 else 500)
    return error_page(request, status if status in _PAGES else 400)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500)


def portal_exception_handlers() -> ExceptionHandlersMap:
    return {
        NotLoggedInError: _to_front_page,
        SessionExpiredError: _to_front_page,
        AuthUnavailableError: _unavailable,
        LoggUnavailableError: _unavailable,
        LoggError: _logg_error,
        AuthRefusedError: _auth_refused,
        HTTPException: _http_exception,
        Exception: _unexpected,
    }
