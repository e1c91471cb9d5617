"""Security headers on every response the portal sends, errors and static files included.

The headers themselves come from `shared.http_security`, the same hook auth uses; this module
only states the portal's policy."""

from __future__ import annotations

from shared.http_security import (
    SecurityHeaderPolicy,
    SendHook,
)
from shared.http_security import content_security_policy as _serialise
from shared.http_security import (
    security_headers_hook as _shared_security_headers_hook,
)

__all__ = ["content_security_policy", "portal_header_policy", "security_headers_hook"]


def portal_header_policy(
    auth_url: str, *, hsts: bool | None = None, logout_origins: tuple[str, ...] = ()
) -> SecurityHeaderPolicy:
    """Strict CSP: our own scripts and styles only, forms may go to us or to auth (logout).
    Pages (everything but /static/) are never stored by a cache, since they may show personal
    data, and vary on HX-Request (a fragment is not the page). HSTS when served over https
    (production requires https for every service URL, so auth's scheme tells)."""
    return SecurityHeaderPolicy(
        csp={
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:"],
            "form-action": ["'self'", auth_url, *logout_origins],
            "frame-ancestors": ["'none'"],
            "base-uri": ["'none'"],
        },
        hsts=auth_url.startswith("https://") if hsts is None else hsts,
        cacheable_prefixes=("/static/",),
        vary_hx_request=True,
    )


def content_security_policy(auth_url: str) -> str:
    """The portal's Content-Security-Policy header value."""
    return _serialise(portal_header_policy(auth_url).csp)


def security_headers_hook(auth_url: str, logout_origins: tuple[str, ...] = ()) -> SendHook:
    """A `before_send` hook adding the portal's security headers to every response."""
    return _shared_security_headers_hook(
        portal_header_policy(auth_url, logout_origins=logout_origins)
    )
