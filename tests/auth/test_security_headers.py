"""auth's security headers and its defences against cross-site request forgery."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import TestClient

from services.auth.csrf import request_is_from_allowed_origin
from services.auth.frontchannel import frontchannel_logout
from services.auth.security_headers import FRAMEABLE_BY_IDP, auth_header_policy
from services.auth.settings import Settings
from services.auth.signing_keys import (
    JWKS_MAX_AGE_SECONDS,
    PUBLISH_AHEAD_SECONDS,
    RELOAD_SECONDS,
)
from services.auth.test_idp.login_csrf import CSRF_COOKIE
from shared.http_security import content_security_policy
from tests.auth.helpers import AUTH_URL, PORTAL_URL, csrf_token_of

AUTH_CSP = (
    "default-src 'none'; style-src 'self'; form-action 'self' http://127.0.0.1:8000 "
    "http://127.0.0.1:8001; frame-ancestors 'none'; base-uri 'none'"
)
LOGIN_HOSTS = (
    "https://login.idporten.no https://login.test.idporten.no https://login.ansattporten.no "
    "https://login.test.ansattporten.no"
)


def test_every_auth_response_carries_the_hardening_headers(client: TestClient[Litestar]) -> None:
    for method, path in [
        ("GET", "/login?kind=guardian"),
        ("GET", "/login?kind=nonsense"),
        ("GET", "/finnes-ikke"),
        ("POST", "/.well-known/jwks.json"),
        ("GET", "/.well-known/jwks.json/x"),
        ("POST", "/token"),
    ]:
        response = client.request(method, path)
        assert response.headers["content-security-policy"] == AUTH_CSP, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # plain http locally


def test_the_jwks_may_be_cached_for_five_minutes_with_the_other_headers(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    assert JWKS_MAX_AGE_SECONDS + RELOAD_SECONDS < PUBLISH_AHEAD_SECONDS
    assert response.headers["content-security-policy"] == AUTH_CSP
    assert response.headers["x-content-type-options"] == "nosniff"


def test_front_channel_logout_may_be_framed_by_the_login_hosts_only(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/frontchannel-logout", params={"iss": "x", "sid": "y"})
    csp = response.headers["content-security-policy"]
    assert f"frame-ancestors {LOGIN_HOSTS} {AUTH_URL};" in csp
    assert "x-frame-options" not in response.headers
    assert "default-src 'none'" in csp
    assert frontchannel_logout.opt == {FRAMEABLE_BY_IDP: True}  # Litestar's keyword, `opt`


def test_hsts_is_sent_when_auth_is_served_over_https(environ: dict[str, str]) -> None:
    settings = Settings.from_env(
        {
            **environ,
            "STAFETT_AUTH_URL": "https://auth.kommune.example",
            "STAFETT_PORTAL_URL": "https://stafett.kommune.example",
        }
    )
    policy = auth_header_policy(settings)
    assert policy.hsts
    assert "https://stafett.kommune.example" in content_security_policy(policy.csp)
    local = auth_header_policy(Settings.from_env(environ))
    assert not local.hsts


def test_logout_from_a_foreign_origin_is_refused(client: TestClient[Litestar]) -> None:
    for headers in [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site", "Origin": PORTAL_URL},
    ]:
        response = client.post("/logout", headers=headers)
        assert response.status_code == 403, headers
        assert "Ikke tillatt" in response.text


def test_logout_from_the_portal_or_auth_is_served(client: TestClient[Litestar]) -> None:
    for headers in [
        {"Origin": PORTAL_URL, "Sec-Fetch-Site": "same-site"},
        {"Referer": f"{AUTH_URL}/somewhere"},
    ]:
        assert client.post("/logout", headers=headers).status_code == 303, headers


def test_production_refuses_a_state_change_without_origin_or_referer() -> None:
    allowed = ("https://stafett.kommune.example",)
    assert not request_is_from_allowed_origin({}, allowed, require_evidence=True)
    assert request_is_from_allowed_origin({}, allowed, require_evidence=False)
    assert request_is_from_allowed_origin(
        {"origin": "https://stafett.kommune.example"}, allowed, require_evidence=True
    )
    assert request_is_from_allowed_origin(
        {"referer": "https://stafett.kommune.example:443/x"}, allowed, require_evidence=True
    )
    assert not request_is_from_allowed_origin(
        {"referer": "https://stafett.kommune.example.evil.example/"},
        allowed,
        require_evidence=True,
    )


def _login_page(client: TestClient[Litestar]) -> tuple[str, str]:
    start = client.get("/login", params={"kind": "guardian"})
    location = start.headers["location"].removeprefix(AUTH_URL)
    page = client.get(location)
    match = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1), csrf_token_of(page.text)


def test_test_idp_login_without_its_csrf_token_is_refused(client: TestClient[Litestar]) -> None:
    request_id, _token = _login_page(client)
    response = client.post("/test-idp/login", data={"request_id": request_id, "pid": "x"})
    assert response.status_code == 400
    assert "location" not in response.headers


def test_test_idp_csrf_token_works_only_in_the_browser_it_was_made_for(
    client: TestClient[Litestar],
) -> None:
    request_id, token = _login_page(client)
    client.cookies.delete(CSRF_COOKIE)  # now another browser, with a CSRF cookie of its own
    _login_page(client)
    forged = client.post(
        "/test-idp/login",
        data={"request_id": request_id, "csrf_token": token, "pid": "12838510068"},
    )
    assert forged.status_code == 400
    own_request_id, own_token = _login_page(client)
    own = client.post(
        "/test-idp/login",
        data={"request_id": own_request_id, "csrf_token": own_token, "pid": "12838510068"},
    )
    assert own.status_code == 303
