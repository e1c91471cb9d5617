"""The test identity provider speaks ID-porten's protocol and refuses what ID-porten refuses."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.settings import Settings
from tests.auth.conftest import KARI
from tests.auth.helpers import AUTH_URL, csrf_token_of, query_of

ISSUER = f"{AUTH_URL}/test-idp"
CLIENT = "stafettlogg-idporten"
CALLBACK = f"{AUTH_URL}/callback"


def _client_key(settings: Settings) -> RSAKey:
    return RSAKey.import_key(json.loads(settings.client_key_file.read_text()))


def _client_auth(settings: Settings) -> dict[str, str]:
    key = _client_key(settings)
    assertion = private_key_jwt_sign(
        key,
        client_id=CLIENT,
        token_endpoint=ISSUER,
        alg="RS256",
        header={"kid": key.kid},
        expires_in=60,
    )
    return {
        "client_id": CLIENT,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


def _authorize_params(**overrides: str) -> dict[str, str]:
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": CLIENT,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "state-1",
        "nonce": "nonce-1",
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


def test_discovery_document_offers_what_the_relying_party_needs(
    client: TestClient[Litestar],
) -> None:
    metadata = client.get("/test-idp/.well-known/openid-configuration").json()
    assert metadata["issuer"] == ISSUER
    assert metadata["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["end_session_endpoint"] == f"{ISSUER}/endsession"
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    keys = client.get("/test-idp/jwks").json()["keys"]
    assert keys[0]["kty"] == "RSA"
    assert "d" not in keys[0]


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},
        {"code_challenge": ""},
    ],
)
def test_authorize_without_pkce_s256_is_refused(
    client: TestClient[Litestar], overrides: dict[str, str]
) -> None:
    params = _authorize_params(**overrides)
    if not overrides.get("code_challenge_method", "x"):
        del params["code_challenge_method"]
    response = client.get("/test-idp/authorize", params=params)
    assert response.status_code == 303
    answer = query_of(response.headers["location"])
    assert answer["error"] == "invalid_request"
    assert answer["state"] == "state-1"
    assert answer["iss"] == ISSUER


def test_par_with_plain_pkce_is_refused(client: TestClient[Litestar], settings: Settings) -> None:
    form = _authorize_params(code_challenge_method="plain") | _client_auth(settings)
    response = client.post("/test-idp/par", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_par_without_client_authentication_is_refused(client: TestClient[Litestar]) -> None:
    response = client.post("/test-idp/par", data=_authorize_params())
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_authorize_with_unregistered_redirect_uri_shows_an_error_page(
    client: TestClient[Litestar],
) -> None:
    response = client.get(
        "/test-idp/authorize", params=_authorize_params(redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "location" not in response.headers


def test_login_page_is_accessible_norwegian_html(client: TestClient[Litestar]) -> None:
    page = client.get("/test-idp/authorize", params=_authorize_params())
    assert page.status_code == 200
    assert '<html lang="nb">' in page.text
    assert "<main>" in page.text
    assert re.search(r"<h1>[^<]+</h1>", page.text)
    buttons = re.findall(r"<button[^>]*>([^<]+)</button>", page.text)
    assert {"Kari Nordmann", "Ola Nordmann", "Siri Stafett", "Lars Lærer"} <= set(buttons)


def _code(client: TestClient[Litestar], params: dict[str, str]) -> str:
    page = client.get("/test-idp/authorize", params=params)
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id is not None
    chosen = client.post(
        "/test-idp/login",
        data={
            "request_id": request_id.group(1),
            "csrf_token": csrf_token_of(page.text),
            "pid": KARI,
        },
    )
    return query_of(chosen.headers["location"])["code"]


def test_code_is_single_use_and_needs_the_right_verifier(
    client: TestClient[Litestar], settings: Settings
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _code(client, _authorize_params(code_challenge=create_s256_code_challenge(verifier)))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": "wrong-" + verifier,
    }
    wrong = client.post("/test-idp/token", data=form | _client_auth(settings))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    again = client.post(
        "/test-idp/token", data=form | {"code_verifier": verifier} | _client_auth(settings)
    )
    assert again.status_code == 400  # the code died with the first (failed) attempt


def test_token_endpoint_issues_id_token_with_id_porten_claims(
    client: TestClient[Litestar], settings: Settings
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _code(client, _authorize_params(code_challenge=create_s256_code_challenge(verifier)))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    response = client.post("/test-idp/token", data=form | _client_auth(settings))
    assert response.status_code == 200, response.text
    payload = response.json()["id_token"].split(".")[1]
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == ISSUER
    assert claims["aud"] == CLIENT
    assert claims["pid"] == KARI
    assert claims["acr"] == "idporten-loa-high"
    assert claims["amr"] == ["TestID"]
    assert claims["nonce"] == "nonce-1"
    assert claims["sid"]
    assert claims["name"] == "Kari Nordmann"


def test_client_assertion_cannot_be_replayed(
    client: TestClient[Litestar], settings: Settings
) -> None:
    auth = _client_auth(settings)
    first = client.post("/test-idp/par", data=_authorize_params() | auth)
    second = client.post("/test-idp/par", data=_authorize_params() | auth)
    assert first.status_code == 201
    assert second.status_code == 401


def test_discovery_advertises_front_channel_logout_with_session(
    client: TestClient[Litestar],
) -> None:
    metadata = client.get("/test-idp/.well-known/openid-configuration").json()
    assert metadata["frontchannel_logout_supported"] is True
    assert metadata["frontchannel_logout_session_supported"] is True


def test_end_session_without_other_clients_redirects_straight_back(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/test-idp/endsession", params={"id_token_hint": "not-a-token"})
    assert response.status_code == 200  # an unverifiable hint: no redirect anywhere
    assert "<iframe" not in response.text
    assert "Du er logget ut" in response.text
