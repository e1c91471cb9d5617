"""Front-channel logout (OpenID Connect Front-Channel Logout 1.0).

When a person logs out at the identity provider (or at another service that shares their login
there), the provider's logged-out page frames `GET /frontchannel-logout?iss=…&sid=…` for every
client of that login. auth then ends every session that came from that provider login, whatever
browser holds it: no cookie is needed or read (third-party frames often carry none).

The route is marked `opt={"frameable_by_idp": True}` (Litestar's handler option) so that the
security-header middleware lets the configured identity providers frame it (and nobody else).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, get

from services.auth.login import AuthSettings, Login
from services.auth.oidc import LoginError
from services.auth.security_headers import FRAMEABLE_BY_IDP

__all__ = ["FRONTCHANNEL_LOGOUT_PATH", "frontchannel_logout"]

FRONTCHANNEL_LOGOUT_PATH = "/frontchannel-logout"

_log = logging.getLogger("stafett.auth.frontchannel")
_HEADERS = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}
_EMPTY_PAGE = (
    '<!doctype html><html lang="nb"><head><meta charset="utf-8">'
    "<title>Logget ut</title></head><body></body></html>"
)
_REFUSED_PAGE = (
    '<!doctype html><html lang="nb"><head><meta charset="utf-8">'
    "<title>Utlogging avvist</title></head><body><main><h1>Utlogging avvist</h1>"
    "<p>Forespørselen om utlogging kom ikke fra en innloggingstjeneste vi kjenner.</p>"
    "</main></body></html>"
)


@get(
    FRONTCHANNEL_LOGOUT_PATH,
    name="frontchannel_logout",
    opt={FRAMEABLE_BY_IDP: True},
    include_in_schema=False,
)
async def frontchannel_logout(
    request: Request[Any, Any, Any], settings: AuthSettings, login_service: Login
) -> Response[str]:
    """End the sessions of the provider login named by `iss` and `sid`; answer 200 with an
    empty page. `iss` must be a configured provider and `sid` well formed, else 400. Ending
    sessions that are already gone (or never existed) is not an error."""
    params = request.query_params
    try:
        ended = await login_service.frontchannel_logout(params.get("iss"), params.get("sid"))
    except LoginError as error:
        _log.warning("front-channel logout refused: %s", error)
        return Response(_REFUSED_PAGE, status_code=400, media_type="text/html", headers=_HEADERS)
    _log.info("front-channel logout ended %d session(s)", ended)
    return Response(_EMPTY_PAGE, status_code=200, media_type="text/html", headers=_HEADERS)
