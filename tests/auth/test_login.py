"""The browser login through the test IdP: the real relying party code, end to end."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey, RSAKey
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from services.auth.oidc import CLIENT_ASSERTION_TYPE, make_client_assertion
from services.auth.settings import Settings
from services.auth.test_idp.provider import RegisteredClient, TestIdentityProvider
from tests.auth.conftest import KARI, SIRI
from tests.auth.helpers import (
    AUTH_URL,
    PORTAL_URL,
    RewritingTransport,
    callback_url_for,
    csrf_token_of,
    log_in,
    portal_form,
    query_of,
)

OLA = "05878220074"


def _path(url: str) -> str:
    return url.removeprefix(AUTH_URL)


def test_guardian_login_creates_session_and_returns_to_next(client: TestClient[Litestar]) -> None:
    response = log_in(client, "guardian", KARI, next_path="/stafettlogger?side=2")
    assert response.status_code == 303
    assert response.headers["location"] == f"{PORTAL_URL}/stafettlogger?side=2"
    assert "stafett_session" in client.cookies


def test_session_cookie_is_httponly_lax_and_not_secure_in_local_mode(
    client: TestClient[Litestar],
) -> None:
    response = log_in(client, "guardian", KARI)
    cookies = [value for key, value in response.headers.multi_items() if key == "set-cookie"]
    session = next(c for c in cookies if c.startswith("stafett_session="))
    attributes = {part.strip().lower() for part in session.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes
    session_id, _, secret = session.split(";")[0].removeprefix("stafett_session=").partition(".")
    assert len(session_id) == 43
    assert len(secret) == 43


def test_each_login_gets_a_fresh_session_id(client: TestClient[Litestar]) -> None:
    log_in(client, "guardian", KARI)
    first = client.cookies["stafett_session"]
    log_in(client, "guardian", KARI)
    second = client.cookies["stafett_session"]
    assert first.split(".")[0] != second.split(".")[0]


def test_staff_login_of_directory_member_succeeds(client: TestClient[Litestar]) -> None:
    response = log_in(client, "staff", SIRI, acr="idporten-loa-substantial")
    assert response.status_code == 303
    assert response.headers["location"] == f"{PORTAL_URL}/"


def test_staff_not_in_directory_is_refused(client: TestClient[Litestar]) -> None:
    response = log_in(client, "staff", OLA)
    assert response.status_code == 403
    assert "ikke registrert som ansatt" in response.text
    assert "stafett_session" not in client.cookies


def test_guardian_acr_below_required_level_is_refused(client: TestClient[Litestar]) -> None:
    response = log_in(client, "guardian", KARI, acr="idporten-loa-substantial")
    assert response.status_code == 403
    assert "sikkerhetsnivå" in response.text
    assert "stafett_session" not in client.cookies


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/", "/\\evil", "x"])
def test_next_must_be_a_relative_path(client: TestClient[Litestar], next_path: str) -> None:
    response = client.get("/login", params={"kind": "guardian", "next": next_path})
    assert response.status_code == 400
    assert '<html lang="nb">' in response.text


def test_unknown_login_kind_is_refused(client: TestClient[Litestar]) -> None:
    response = client.get("/login", params={"kind": "admin"})
    assert response.status_code == 400
    assert "Ukjent innloggingstype" in response.text


def test_wrong_state_is_refused(client: TestClient[Litestar]) -> None:
    callback = callback_url_for(client, "guardian", KARI)
    params = query_of(callback) | {"state": secrets.token_urlsafe(32)}
    response = client.get("/callback?" + urlencode(params))
    assert response.status_code == 400
    assert "stafett_session" not in client.cookies


def test_callback_without_the_browsers_login_cookie_is_refused(
    client: TestClient[Litestar],
) -> None:
    callback = callback_url_for(client, "guardian", KARI)
    client.cookies.delete("stafett_login")
    response = client.get(_path(callback))
    assert response.status_code == 400
    assert "stafett_session" not in client.cookies


def test_wrong_iss_is_refused(client: TestClient[Litestar]) -> None:
    callback = callback_url_for(client, "guardian", KARI)
    params = query_of(callback) | {"iss": "https://idp.evil.example"}
    response = client.get("/callback?" + urlencode(params))
    assert response.status_code == 400
    assert "annen innloggingstjeneste" in response.text


def test_missing_iss_is_refused_when_the_provider_sends_it(client: TestClient[Litestar]) -> None:
    callback = callback_url_for(client, "guardian", KARI)
    params = {k: v for k, v in query_of(callback).items() if k != "iss"}
    response = client.get("/callback?" + urlencode(params))
    assert response.status_code == 400


def test_callback_can_be_completed_only_once(client: TestClient[Litestar]) -> None:
    callback = callback_url_for(client, "guardian", KARI)
    login_cookie = client.cookies["stafett_login"]
    assert client.get(_path(callback)).status_code == 303
    client.cookies.set("stafett_login", login_cookie)
    assert client.get(_path(callback)).status_code == 400


def _resign(claims: dict[str, Any], key: RSAKey) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])


def _claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    result: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return result


def _idp_key(settings: Settings) -> RSAKey:
    return RSAKey.import_key(json.loads(settings.test_idp_key_file.read_text()))


def test_id_token_signed_by_another_key_is_refused(
    client: TestClient[Litestar], transport: RewritingTransport, settings: Settings
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": str(_idp_key(settings).kid)})
    transport.token_rewriter = lambda body: (
        body | {"id_token": _resign(_claims(body["id_token"]), impostor)}
    )
    response = log_in(client, "guardian", KARI)
    assert response.status_code == 400
    assert "stafett_session" not in client.cookies


def test_tampered_id_token_is_refused(
    client: TestClient[Litestar], transport: RewritingTransport
) -> None:
    def tamper(body: dict[str, Any]) -> dict[str, Any]:
        header, _payload, signature = body["id_token"].split(".")
        claims = _claims(body["id_token"]) | {"pid": OLA}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return body | {"id_token": f"{header}.{payload}.{signature}"}

    transport.token_rewriter = tamper
    response = log_in(client, "guardian", KARI)
    assert response.status_code == 400
    assert "stafett_session" not in client.cookies


def test_wrong_nonce_is_refused(
    client: TestClient[Litestar],
    transport: RewritingTransport,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = _idp_key(settings)
    transport.token_rewriter = lambda body: (
        body | {"id_token": _resign(_claims(body["id_token"]) | {"nonce": "another-nonce"}, key)}
    )
    with caplog.at_level(logging.WARNING, logger="stafett.auth.login"):
        response = log_in(client, "guardian", KARI)
    assert response.status_code == 400
    assert "Invalid claim: 'nonce'" in caplog.text  # the signature is good; the nonce is not
    assert "stafett_session" not in client.cookies


def test_expired_id_token_is_refused(
    client: TestClient[Litestar], transport: RewritingTransport, settings: Settings
) -> None:
    key = _idp_key(settings)
    past = int(time.time()) - 3600
    transport.token_rewriter = lambda body: (
        body
        | {"id_token": _resign(_claims(body["id_token"]) | {"iat": past, "exp": past + 120}, key)}
    )
    assert log_in(client, "guardian", KARI).status_code == 400


def test_cancelled_login_shows_norwegian_error_page(client: TestClient[Litestar]) -> None:
    start = client.get("/login", params={"kind": "guardian"})
    page = client.get(_path(start.headers["location"]))
    request_id = page.text.split('name="request_id" value="')[1].split('"')[0]
    cancelled = client.post(
        "/test-idp/login",
        data={"request_id": request_id, "csrf_token": csrf_token_of(page.text), "cancel": "1"},
    )
    assert "error=access_denied" in cancelled.headers["location"]
    response = client.get(_path(cancelled.headers["location"]))
    assert response.status_code == 400
    assert "avbrutt" in response.text


def test_logout_ends_session_at_auth_and_idp_then_lands_on_portal(
    client: TestClient[Litestar], guardian_cookie: str
) -> None:
    response = client.post("/logout")
    assert response.status_code == 303
    endsession = response.headers["location"]
    assert endsession.startswith(f"{AUTH_URL}/test-idp/endsession?")
    params = query_of(endsession)
    assert params["post_logout_redirect_uri"] == f"{AUTH_URL}/logout/done"
    assert params["id_token_hint"]
    assert params["state"]
    assert "stafett_session" not in client.cookies
    back = client.get(_path(endsession))
    assert back.status_code == 303
    assert back.headers["location"] == f"{AUTH_URL}/logout/done?state={params['state']}"
    done = client.get(_path(back.headers["location"]))
    assert done.headers["location"] == f"{PORTAL_URL}/"
    client.cookies.set("stafett_session", guardian_cookie)
    assert client.post("/logout").headers["location"] == f"{PORTAL_URL}/"


def test_logout_from_a_foreign_origin_is_refused(
    client: TestClient[Litestar], guardian_cookie: str
) -> None:
    response = client.post("/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert client.cookies["stafett_session"] == guardian_cookie


def _test_idp(app: Litestar) -> TestIdentityProvider:
    provide = app.dependencies["test_idp"]
    assert isinstance(provide, Provide)
    provided = provide.dependency()
    assert isinstance(provided, TestIdentityProvider)
    return provided


def test_login_pushes_the_authorization_request_when_par_is_offered(
    client: TestClient[Litestar],
) -> None:
    start = client.get("/login", params={"kind": "guardian"})
    query = query_of(start.headers["location"])
    assert set(query) == {"client_id", "request_uri"}
    assert query["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


def test_login_sends_a_plain_authorization_request_when_par_is_not_offered(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    _test_idp(app).offer_par = False
    start = client.get("/login", params={"kind": "guardian"})
    query = query_of(start.headers["location"])
    assert "request_uri" not in query
    assert query["code_challenge_method"] == "S256"
    assert query["acr_values"] == "idporten-loa-high"
    assert query["ui_locales"] == "nb"
    assert log_in(client, "guardian", KARI).status_code == 303
    assert "stafett_session" in client.cookies


def test_staff_login_asks_for_the_staff_level(client: TestClient[Litestar], app: Litestar) -> None:
    _test_idp(app).offer_par = False
    start = client.get("/login", params={"kind": "staff"})
    assert query_of(start.headers["location"])["acr_values"] == "idporten-loa-substantial"


def test_id_token_for_another_audience_is_refused(
    client: TestClient[Litestar], transport: RewritingTransport, settings: Settings
) -> None:
    key = _idp_key(settings)
    transport.token_rewriter = lambda body: (
        body | {"id_token": _resign(_claims(body["id_token"]) | {"aud": "another-client"}, key)}
    )
    assert log_in(client, "guardian", KARI).status_code == 400
    assert "stafett_session" not in client.cookies


def test_id_token_with_alg_none_is_refused(
    client: TestClient[Litestar], transport: RewritingTransport
) -> None:
    def unsigned(body: dict[str, Any]) -> dict[str, Any]:
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        payload = body["id_token"].split(".")[1]
        return body | {"id_token": f"{header}.{payload}."}

    transport.token_rewriter = unsigned
    assert log_in(client, "guardian", KARI).status_code == 400
    assert "stafett_session" not in client.cookies


def test_id_token_from_another_issuer_is_refused(
    client: TestClient[Litestar], transport: RewritingTransport, settings: Settings
) -> None:
    key = _idp_key(settings)
    transport.token_rewriter = lambda body: (
        body
        | {"id_token": _resign(_claims(body["id_token"]) | {"iss": "https://evil.example"}, key)}
    )
    assert log_in(client, "guardian", KARI).status_code == 400
    assert "stafett_session" not in client.cookies


def test_replayed_authorization_code_in_a_fresh_login_attempt_is_refused(
    client: TestClient[Litestar],
) -> None:
    first = callback_url_for(client, "guardian", KARI)
    assert client.get(_path(first)).status_code == 303
    stolen_code = query_of(first)["code"]
    client.cookies.clear()
    fresh = callback_url_for(client, "guardian", OLA)
    replay = query_of(fresh) | {"code": stolen_code}
    response = client.get("/callback?" + urlencode(replay))
    assert response.status_code == 400
    assert "stafett_session" not in client.cookies


def test_logout_return_with_another_state_is_refused(
    client: TestClient[Litestar], guardian_cookie: str
) -> None:
    endsession = client.post("/logout").headers["location"]
    response = client.get("/logout/done", params={"state": "not-the-one-we-sent"})
    assert response.status_code == 400
    assert "utloggingen" in response.text
    assert query_of(endsession)["state"] != "not-the-one-we-sent"


def _log_in_capturing_id_token(
    client: TestClient[Litestar], transport: RewritingTransport
) -> tuple[str, dict[str, Any]]:
    captured: list[str] = []

    def capture(body: dict[str, Any]) -> dict[str, Any]:
        captured.append(body["id_token"])
        return body

    transport.token_rewriter = capture
    assert log_in(client, "guardian", KARI).status_code == 303
    transport.token_rewriter = None
    return client.cookies["stafett_session"], _claims(captured[0])


def test_frontchannel_logout_ends_the_session_for_any_browser(
    app: Litestar,
    client: TestClient[Litestar],
    transport: RewritingTransport,
    portal_key: OKPKey,
) -> None:
    cookie, id_token_claims = _log_in_capturing_id_token(client, transport)
    assert client.post("/session", data=portal_form(portal_key, cookie)).status_code == 200
    client.cookies.clear()  # the IdP's frame may carry no cookie at all
    response = client.get(
        "/frontchannel-logout",
        params={"iss": f"{AUTH_URL}/test-idp", "sid": id_token_claims["sid"]},
    )
    assert "set-cookie" not in response.headers
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "no-store" in response.headers["cache-control"]
    assert "<body></body>" in response.text
    assert client.post("/session", data=portal_form(portal_key, cookie)).status_code == 401


def test_logout_at_another_client_of_the_idp_ends_the_session_here(
    app: Litestar,
    client: TestClient[Litestar],
    transport: RewritingTransport,
    settings: Settings,
    portal_key: OKPKey,
) -> None:
    """Kari logs in to auth and, in the same browser, to another service at the test IdP; she
    logs out of the other service; the IdP's logged-out page frames auth's front-channel URI."""
    idp = _test_idp(app)
    client_key = RSAKey.import_key(json.loads(settings.client_key_file.read_text()))
    other_callback = "https://other.example/callback"
    idp.register_client(
        RegisteredClient(
            client_id="other-service",
            keys=KeySet([RSAKey.import_key(client_key.as_dict(private=False))]),
            redirect_uris=frozenset({other_callback}),
            post_logout_redirect_uris=frozenset({"https://other.example/bye"}),
            frontchannel_logout_uri="https://other.example/frontchannel",
        )
    )
    cookie, auth_claims = _log_in_capturing_id_token(client, transport)

    verifier = secrets.token_urlsafe(48)
    page = client.get(
        "/test-idp/authorize",
        params={
            "client_id": "other-service",
            "response_type": "code",
            "redirect_uri": other_callback,
            "scope": "openid",
            "state": "s-1",
            "nonce": "n-1",
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        },
    )
    request_id = page.text.split('name="request_id" value="')[1].split('"')[0]
    chosen = client.post(
        "/test-idp/login",
        data={"request_id": request_id, "pid": KARI, "csrf_token": csrf_token_of(page.text)},
    )
    assert chosen.status_code == 303, chosen.text
    code = query_of(chosen.headers["location"])["code"]
    issuer = f"{AUTH_URL}/test-idp"
    tokens = client.post(
        "/test-idp/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": other_callback,
            "code_verifier": verifier,
            "client_id": "other-service",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": make_client_assertion(
                client_key, client_id="other-service", audience=issuer
            ),
        },
    ).json()
    assert _claims(tokens["id_token"])["sid"] == auth_claims["sid"]  # one IdP session

    logged_out = client.get(
        "/test-idp/endsession",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://other.example/bye",
            "state": "bye-1",
        },
    )
    assert logged_out.status_code == 200
    frames = re.findall(r'<iframe src="([^"]+)"', logged_out.text)
    assert len(frames) == 1
    frame = html.unescape(frames[0])
    assert frame.startswith(f"{AUTH_URL}/frontchannel-logout?")
    assert query_of(frame) == {"iss": issuer, "sid": auth_claims["sid"]}
    assert 'href="https://other.example/bye?state=bye-1"' in logged_out.text
    client.cookies.clear()  # the frame comes from the IdP's page: no cookie of ours
    assert client.get(_path(frame)).status_code == 200
    assert client.post("/session", data=portal_form(portal_key, cookie)).status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"iss": "https://idp.evil.example", "sid": "x"},
        {"sid": "x"},
        {"iss": f"{AUTH_URL}/test-idp"},
        {"iss": f"{AUTH_URL}/test-idp", "sid": "a" * 300},
    ],
)
def test_frontchannel_logout_with_unknown_issuer_or_bad_sid_is_refused(
    client: TestClient[Litestar], guardian_cookie: str, portal_key: OKPKey, params: dict[str, str]
) -> None:
    response = client.get("/frontchannel-logout", params=params)
    assert response.status_code == 400
    assert '<html lang="nb">' in response.text
    assert client.post("/session", data=portal_form(portal_key, guardian_cookie)).status_code == 200


def test_frontchannel_logout_route_is_marked_frameable_by_the_idp(app: Litestar) -> None:
    handler = app.route_handler_method_map["/frontchannel-logout"]["GET"]
    assert handler.name == "frontchannel_logout"
    assert handler.opt.get("frameable_by_idp") is True
