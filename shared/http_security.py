"""Security headers that every browser-facing service sends, as one `before_send` hook.

auth and the portal build a `SecurityHeaderPolicy` (their own Content-Security-Policy, which paths
may be framed and by whom, which paths a cache may keep) and install `security_headers_hook`.
The hook sets, on every response including errors and static files:

- `Content-Security-Policy` (CSP Level 3), with `frame-ancestors` widened only on the routes the
  policy names, by path or by a route option (auth's front-channel logout, which ID-porten
  loads in an iframe, is marked `opt={"frameable_by_idp": True}`);
- `X-Frame-Options: DENY` wherever `frame-ancestors` is `'none'` (for browsers without CSP 2);
- `Strict-Transport-Security` (RFC 6797) when the policy says the service runs on https;
- `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`,
  `Cross-Origin-Opener-Policy: same-origin`;
- `Cache-Control: no-store` unless the path is one the policy lets caches keep: static files
  (by prefix, whatever the handler sent) and exact paths whose handler chose its own
  `Cache-Control` (auth's JWKS); any other response on such a path still gets `no-store`;
- optionally `Vary: HX-Request` (an htmx fragment is not the page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

__all__ = [
    "HSTS_VALUE",
    "SecurityHeaderPolicy",
    "SendHook",
    "content_security_policy",
    "security_headers_hook",
]

HSTS_VALUE = "max-age=63072000; includeSubDomains"

SendHook = Callable[[Message, Scope], Awaitable[None]]


def content_security_policy(directives: Mapping[str, Sequence[str]]) -> str:
    """Serialise directives in the order given: `{"default-src": ["'self'"]}` →
    `default-src 'self'`. Refuses sources that would break out of a directive (`;`, `,`,
    newlines), so a misconfigured URL cannot inject a directive of its own."""
    parts: list[str] = []
    for name, sources in directives.items():
        for token in (name, *sources):
            if not token or any(char in token for char in ";,\r\n \t"):
                raise ValueError(f"not a valid CSP token: {token!r}")
        parts.append(" ".join((name, *sources)))
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class SecurityHeaderPolicy:
    """What one service sends.

    `csp` is the policy for every path; its `frame-ancestors` is replaced by `frameable_by` on
    exactly the paths in `frameable_paths` and the routes whose handler has the option
    `frameable_route_opt` set true in Litestar's `opt` (`@get(..., opt={name: True})`).
    `cacheable_prefixes` are path prefixes a cache may keep (static files); on the exact paths in
    `cacheable_paths` the handler's own `Cache-Control` stands (no-store if it sent none);
    everything else gets `Cache-Control: no-store`, whatever the handler chose. `hsts` only where
    the service is reached over https."""

    csp: Mapping[str, Sequence[str]]
    hsts: bool
    frameable_by: Sequence[str] = ()
    frameable_paths: frozenset[str] = frozenset()
    frameable_route_opt: str | None = None
    cacheable_prefixes: Sequence[str] = ()
    cacheable_paths: frozenset[str] = frozenset()
    vary_hx_request: bool = False


def _frame_ancestors_deny(sources: Sequence[str]) -> bool:
    return list(sources) == ["'none'"]


def security_headers_hook(policy: SecurityHeaderPolicy) -> SendHook:
    """A Litestar `before_send` hook that adds the headers above to every response start.

    Guarantees: every response carries the same CSP and hardening headers, whatever the handler
    or exception handler did (it overwrites theirs). Does not: validate the CSP's sources beyond
    their syntax, or protect responses that bypass Litestar (there are none in these services)."""
    default_csp = content_security_policy(policy.csp)
    default_deny = _frame_ancestors_deny(policy.csp.get("frame-ancestors", ["'none'"]))
    frameable_by = list(policy.frameable_by) or ["'none'"]
    framed_csp = content_security_policy({**policy.csp, "frame-ancestors": frameable_by})
    framed_deny = _frame_ancestors_deny(frameable_by)

    def frameable(path: str, scope: Scope) -> bool:
        if path in policy.frameable_paths:
            return True
        if policy.frameable_route_opt is None:
            return False
        # Only Litestar's `opt={...}` counts: a misspelt keyword (`opts=`) must not frame a page.
        opt = getattr(scope.get("route_handler"), "opt", None) or {}
        return opt.get(policy.frameable_route_opt) is True

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path = str(scope.get("path", ""))
        headers = MutableScopeHeaders.from_message(message)
        if frameable(path, scope):
            csp, deny_framing = framed_csp, framed_deny
        else:
            csp, deny_framing = default_csp, default_deny
        headers["Content-Security-Policy"] = csp
        if deny_framing:
            headers["X-Frame-Options"] = "DENY"
        elif "X-Frame-Options" in headers:
            del headers["X-Frame-Options"]
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if policy.hsts:
            headers["Strict-Transport-Security"] = HSTS_VALUE
        if path in policy.cacheable_paths:
            if "Cache-Control" not in headers:
                headers["Cache-Control"] = "no-store"
        elif not any(path.startswith(prefix) for prefix in policy.cacheable_prefixes):
            headers["Cache-Control"] = "no-store"
            if policy.vary_hx_request:
                vary = headers.get("Vary")
                if vary is None:
                    headers["Vary"] = "HX-Request"
                elif "hx-request" not in vary.lower():
                    headers["Vary"] = f"{vary}, HX-Request"

    return add_security_headers
