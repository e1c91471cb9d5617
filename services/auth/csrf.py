"""Cross-site request forgery defences for auth's state-changing routes.

Which routes change state, and what protects each:

- `POST /logout` (the portal's logout form posts here, cross-port locally, same origin behind
  the production proxy; it carries no fields): the request must come from the portal's or auth's
  own origin, judged by `request_is_from_allowed_origin` from `Sec-Fetch-Site`, `Origin` and
  `Referer`. We chose origin checking over a double-submit token because the form lives in the
  portal and auth shares no secret with it; the SameSite=Lax session cookie is not sent on a
  cross-site POST either, so a forged logout would end nothing even without this check.
- `GET /callback` is protected against login CSRF by `state`, bound to the browser by the login
  cookie (see `services.auth.login`).
- `POST /test-idp/login`: a CSRF token of its own, bound to the pending authorization and to the
  browser by a cookie (see `services.auth.test_idp.provider`).
- `POST /token`, `POST /session`, `POST /test-idp/par`, `POST /test-idp/token` are server to
  server: the caller authenticates with `private_key_jwt` (RFC 7523) and no cookie is read, so
  there is nothing a forged browser request could borrow.
- `POST /directory/persons/lookup` authenticates with a bearer token, never a cookie.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

__all__ = ["origin_of", "request_is_from_allowed_origin"]


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL (default ports left out), else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def request_is_from_allowed_origin(
    headers: Mapping[str, str], allowed_origins: Collection[str], *, require_evidence: bool
) -> bool:
    """True when a state-changing browser request may be served.

    Refused: `Sec-Fetch-Site: cross-site` (Fetch Metadata); an `Origin` that is not allowed
    (including `null`); else a `Referer` whose origin is not allowed. When the request carries
    neither Origin nor Referer it is refused if `require_evidence` (production), and allowed
    otherwise (local tools such as curl). Guarantees nothing about requests that are not made by
    a browser: those carry no victim's cookies."""
    allowed = {origin for origin in (origin_of(o) for o in allowed_origins) if origin}
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is not None:
        return origin_of(origin) in allowed
    referer = headers.get("referer")
    if referer is not None:
        return origin_of(referer) in allowed
    return not require_evidence
