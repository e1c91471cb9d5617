"""auth's security-header policy (the headers themselves: `shared.http_security`).

auth's pages are few and plain: no script, no image, our own styles at most. Forms on them (the
test IdP's login) post to auth itself, and the redirects that follow a submitted form go on to
the portal or to an identity provider, so those are the form-action sources. Nothing may frame
auth except the identity providers' logged-out pages, which frame front-channel logout (routes
marked with Litestar's handler option `opt={"frameable_by_idp": True}`).

Nothing auth answers may be cached, except the JWKS: verifiers may keep it for
`JWKS_MAX_AGE_SECONDS` (5 minutes), which is safe because a new signing key is published
`PUBLISH_AHEAD_SECONDS` (10 minutes) before it signs (services.auth.signing_keys).
"""

from __future__ import annotations

from services.auth.csrf import origin_of
from services.auth.settings import Settings
from services.auth.tokens import JWKS_PATH
from shared.http_security import SecurityHeaderPolicy
from shared.settings import Mode

__all__ = ["FRAMEABLE_BY_IDP", "auth_header_policy"]

FRAMEABLE_BY_IDP = "frameable_by_idp"


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def auth_header_policy(settings: Settings) -> SecurityHeaderPolicy:
    """CSP `default-src 'none'`, `frame-ancestors 'none'` but on front-channel logout (the
    configured login hosts, plus the test IdP's origin in local mode), no-store everywhere but
    on the JWKS (its handler's short max-age stands), HSTS when auth is served over https."""
    idp_origins = [
        origin
        for origin in (origin_of(settings.idporten_issuer), origin_of(settings.ansattporten_issuer))
        if origin is not None
    ]
    auth_origin = origin_of(settings.auth_url)
    frameable_by = list(settings.frame_ancestors_logout)
    if settings.mode is Mode.LOCAL and settings.test_idp and auth_origin is not None:
        frameable_by.append(auth_origin)  # the test IdP lives on auth's own origin
    portal_origin = origin_of(settings.portal_url) or settings.portal_url
    return SecurityHeaderPolicy(
        csp={
            "default-src": ["'none'"],
            "style-src": ["'self'"],
            "form-action": _unique(["'self'", portal_origin, *idp_origins]),
            "frame-ancestors": ["'none'"],
            "base-uri": ["'none'"],
        },
        hsts=settings.auth_url.startswith("https://"),
        frameable_by=_unique(frameable_by),
        frameable_route_opt=FRAMEABLE_BY_IDP,
        cacheable_paths=frozenset({JWKS_PATH}),
    )
