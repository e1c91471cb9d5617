"""The browser login through the test IdP: the real relying party code, end to end."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.settings import Settings
from tests.auth.conftest import KARI, SIRI
from tests.auth.helpers import (
    AUTH_URL,
    PORTAL_URL,
    RewritingTransport,
    callback_url_for,
    log_in,
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
    cancelled = client.post("/test-idp/login", data={"request_id": request_id, "cancel": "1"})
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
