"""The person's choice of language: a small form on every page posts here, and the choice is kept
in a cookie (`sprak`) that holds only the language code."""

from __future__ import annotations

import re
from typing import Any, Final

from litestar import Request, Response, post
from litestar.datastructures import Cookie, State
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.errors import error_page
from services.portal.i18n import LOCALE_COOKIE, LOCALES, N_

__all__ = ["LANGUAGE_ROUTES", "choose_language", "is_safe_local_path"]

_ONE_YEAR: Final = 365 * 24 * 60 * 60
# One leading "/", then printable ASCII with no backslash: never "//host" or "/\host", never a
# scheme, so the answer can only lead to a page of the portal itself.
_LOCAL_PATH: Final = re.compile(r"^/(?!/)[\x21-\x5b\x5d-\x7e]{0,2047}$")


def is_safe_local_path(path: str) -> bool:
    """True for a path on the portal itself (no scheme, host, backslash, space or control
    character), so a redirect to it can never leave the site (no open redirect)."""
    return bool(_LOCAL_PATH.match(path))


@post("/sprak", name="choose_language")
async def choose_language(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Keep the chosen language for a year and go back to the page the person was on (or the
    front page if that is not a path on the portal)."""
    form = await request.form()
    chosen = form.get("sprak")
    if chosen not in LOCALES:
        return error_page(
            request,
            400,
            heading=N_("Vi kjenner ikke det språket"),
            message=N_("Velg bokmål, nynorsk eller engelsk."),
        )
    back = form.get("next")
    path = back if isinstance(back, str) and is_safe_local_path(back) else "/"
    response: Response[Any] = Redirect(path=path, status_code=HTTP_303_SEE_OTHER)
    response.set_cookie(
        Cookie(
            key=LOCALE_COOKIE,
            value=str(chosen),
            max_age=_ONE_YEAR,
            path="/",
            secure=state.settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    )
    return response


LANGUAGE_ROUTES = [choose_language]
