"""Security headers on every response the portal sends, errors and static files included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

__all__ = ["content_security_policy", "security_headers_hook"]

SendHook = Callable[[Message, Scope], Awaitable[None]]


def content_security_policy(auth_url: str) -> str:
    """Strict CSP: our own scripts and styles only, forms may go to us or to auth (logout)."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action 'self' {auth_url}; frame-ancestors 'none'; base-uri 'none'"
    )


def security_headers_hook(auth_url: str) -> SendHook:
    """A `before_send` hook. Pages (everything but /static/) are never stored by a cache, since
    they may show personal data, and vary on HX-Request (a fragment is not the page)."""
    csp = content_security_policy(auth_url)

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        headers["Content-Security-Policy"] = csp
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        if not scope.get("path", "").startswith("/static/"):
            headers["Cache-Control"] = "no-store"
            vary = headers.get("Vary")
            if vary is None:
                headers["Vary"] = "HX-Request"
            elif "hx-request" not in vary.lower():
                headers["Vary"] = f"{vary}, HX-Request"

    return add_security_headers
