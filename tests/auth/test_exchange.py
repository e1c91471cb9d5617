"""The portal's endpoints: token exchange and the session context, behind private_key_jwt."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from joserfc.jwk import KeySet, OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.settings import Settings
from shared.crypto.keys import ParticipantKeys
from shared.tokens import ServiceTokenVerifier, TokenError
from tests.auth.helpers import AUTH_URL, portal_assertion, portal_form

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _exchange(client: TestClient[Litestar], key: OKPKey, cookie: str, **overrides: str) -> Any:
    form = portal_form(key, cookie, grant_type=EXCHANGE, audience="stafett-logg") | overrides
    return client.post("/token", data=form)


def _verifier(client: TestClient[Litestar], audience: str) -> ServiceTokenVerifier:
    published = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())

    async def key_source(_kid: str | None) -> KeySet:
        return published

    return ServiceTokenVerifier(
        issuer=AUTH_URL, audience=audience, key_source=key_source, replay_cache=None
    )


@pytest.mark.anyio
async def test_exchanged_token_verifies_with_the_shared_verifier(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = _exchange(client, portal_key, guardian_cookie)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert 0 < body["expires_in"] <= 300
    assert response.headers["cache-control"] == "no-store"
    claims = await _verifier(client, "stafett-logg").verify(body["access_token"])
    assert claims.role == "guardian"
    assert claims.aud == "stafett-logg"
    assert claims.sub.startswith("p_")
    assert claims.acr == "idporten-loa-high"
    assert claims.service is None
    assert claims.exp - claims.iat <= 300
    context = client.post("/session", data=portal_form(portal_key, guardian_cookie)).json()
    own_keys = ParticipantKeys.from_bytes(base64.b64decode(context["keys"]))
    sign_key = base64.urlsafe_b64decode(claims.sign_key + "=")
    assert sign_key == own_keys.public().sign_public


@pytest.mark.anyio
async def test_staff_token_names_the_service(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    response = _exchange(client, portal_key, staff_cookie, audience="stafett-auth")
    claims = await _verifier(client, "stafett-auth").verify(response.json()["access_token"])
    assert claims.role == "staff"
    assert claims.service == "helsestasjon-sentrum"


@pytest.mark.anyio
async def test_token_for_one_audience_is_refused_by_another(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    token = _exchange(client, portal_key, guardian_cookie).json()["access_token"]
    with pytest.raises(TokenError):
        await _verifier(client, "stafett-auth").verify(token)


def test_exchange_with_assertion_signed_by_another_key_is_refused(
    client: TestClient[Litestar], guardian_cookie: str, portal_key: OKPKey
) -> None:
    impostor = OKPKey.generate_key("Ed25519", parameters={"kid": str(portal_key.kid)})
    response = _exchange(
        client, portal_key, guardian_cookie, client_assertion=portal_assertion(impostor)
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "assertion_args",
    [
        {"audience": "https://other.example"},
        {"issuer": "someone-else"},
        {"lifetime": 600},
        {"lifetime": -120},
    ],
)
def test_exchange_with_bad_assertion_claims_is_refused(
    client: TestClient[Litestar],
    portal_key: OKPKey,
    guardian_cookie: str,
    assertion_args: dict[str, Any],
) -> None:
    assertion = portal_assertion(portal_key, **assertion_args)
    response = _exchange(client, portal_key, guardian_cookie, client_assertion=assertion)
    assert response.status_code == 401


def test_replayed_client_assertion_is_refused(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    assertion = portal_assertion(portal_key)
    first = _exchange(client, portal_key, guardian_cookie, client_assertion=assertion)
    second = _exchange(client, portal_key, guardian_cookie, client_assertion=assertion)
    assert first.status_code == 200
    assert second.status_code == 401


def test_assertion_with_token_endpoint_audience_is_accepted(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    assertion = portal_assertion(portal_key, audience=f"{AUTH_URL}/token")
    response = _exchange(client, portal_key, guardian_cookie, client_assertion=assertion)
    assert response.status_code == 200


def test_missing_client_assertion_is_refused(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    form = portal_form(portal_key, guardian_cookie, grant_type=EXCHANGE, audience="stafett-logg")
    del form["client_assertion"]
    assert client.post("/token", data=form).status_code == 401


def test_unknown_session_is_refused(client: TestClient[Litestar], portal_key: OKPKey) -> None:
    forged = "A" * 43 + "." + "B" * 43
    response = _exchange(client, portal_key, forged)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"  # RFC 8693 §2.2.2: a bad subject_token


def test_session_id_with_wrong_secret_is_refused(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    session_id = guardian_cookie.split(".")[0]
    response = _exchange(client, portal_key, f"{session_id}.{'B' * 43}")
    assert response.status_code == 400


def test_wrong_audience_is_refused(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = _exchange(client, portal_key, guardian_cookie, audience="stafett-portal")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_other_grant_types_are_refused(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = _exchange(client, portal_key, guardian_cookie, grant_type="client_credentials")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_json_body_is_refused(client: TestClient[Litestar]) -> None:
    response = client.post("/token", json={"grant_type": EXCHANGE})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_clients_are_refused_when_no_portal_key_is_registered(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, settings: Settings
) -> None:
    settings.portal_client_jwks_file.unlink()
    response = _exchange(client, portal_key, guardian_cookie)
    assert response.status_code == 401


def test_session_context_holds_person_and_service_keys_for_staff(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    response = client.post("/session", data=portal_form(portal_key, staff_cookie))
    assert response.status_code == 200, response.text
    context = response.json()
    assert context["role"] == "staff"
    assert context["name"] == "Siri Stafett"
    assert context["service"] == {"id": "helsestasjon-sentrum", "name": "Helsestasjonen i Sentrum"}
    service_keys = ParticipantKeys.from_bytes(base64.b64decode(context["service_keys"]))
    token = client.post(
        "/token",
        data=portal_form(portal_key, staff_cookie, grant_type=EXCHANGE, audience="stafett-auth"),
    ).json()["access_token"]
    units = client.get("/directory/services", headers={"Authorization": f"Bearer {token}"}).json()
    unit = next(u for u in units if u["id"] == "helsestasjon-sentrum")
    assert base64.b64decode(unit["sign_public"]) == service_keys.public().sign_public


def test_session_context_for_guardian_has_no_service(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    context = client.post("/session", data=portal_form(portal_key, guardian_cookie)).json()
    assert context["role"] == "guardian"
    assert context["name"] == "Kari Nordmann"
    assert context["service"] is None
    assert context["service_keys"] is None
    assert context["expires_at"] > 0


def test_session_context_of_unknown_session_is_401(
    client: TestClient[Litestar], portal_key: OKPKey
) -> None:
    response = client.post("/session", data=portal_form(portal_key, "A" * 43 + "." + "B" * 43))
    assert response.status_code == 401


def test_ended_session_is_refused(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    client.post("/logout")
    response = client.post("/session", data=portal_form(portal_key, guardian_cookie))
    assert response.status_code == 401


def _form(key: OKPKey, cookie: str, **fields: str) -> dict[str, str]:
    return portal_form(key, cookie, grant_type=EXCHANGE) | fields


@pytest.mark.anyio
async def test_resource_names_the_target_by_its_url(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, settings: Settings
) -> None:
    form = _form(portal_key, guardian_cookie, resource=settings.logg_url)
    response = client.post("/token", data=form)
    assert response.status_code == 200, response.text
    claims = await _verifier(client, "stafett-logg").verify(response.json()["access_token"])
    assert claims.aud == "stafett-logg"


def test_audience_and_resource_naming_the_same_service_are_accepted(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, settings: Settings
) -> None:
    form = _form(portal_key, guardian_cookie, audience="stafett-auth", resource=settings.auth_url)
    assert client.post("/token", data=form).status_code == 200


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "invalid_request"),  # no target at all
        ({"audience": "stafett-logg", "resource": "http://127.0.0.1:8001"}, "invalid_target"),
        ({"resource": "https://elsewhere.example/api"}, "invalid_target"),
        ({"audience": "stafett-logg", "scope": "read"}, "invalid_scope"),
        (
            {"audience": "stafett-logg", "actor_token": "x", "actor_token_type": "y"},
            "invalid_request",
        ),
        (
            {
                "audience": "stafett-logg",
                "requested_token_type": "urn:ietf:params:oauth:token-type:id_token",
            },
            "invalid_request",
        ),
    ],
)
def test_exchange_requests_outside_the_profile_get_the_rfc8693_error_code(
    client: TestClient[Litestar],
    portal_key: OKPKey,
    guardian_cookie: str,
    fields: dict[str, str],
    error: str,
) -> None:
    response = client.post("/token", data=_form(portal_key, guardian_cookie, **fields))
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_a_token_for_two_audiences_is_refused_as_invalid_target(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    form = list(_form(portal_key, guardian_cookie).items())
    form += [("audience", "stafett-logg"), ("audience", "stafett-auth")]
    body = "&".join(f"{key}={value}" for key, value in form)
    response = client.post(
        "/token",
        content=body.replace(":", "%3A"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_missing_grant_type_is_invalid_request(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    form = portal_form(portal_key, guardian_cookie, audience="stafett-logg")
    response = client.post("/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_missing_subject_token_type_is_invalid_request(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    form = _form(portal_key, guardian_cookie, audience="stafett-logg")
    del form["subject_token_type"]
    response = client.post("/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_each_exchange_gives_a_new_token_id(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    tokens = {
        _exchange(client, portal_key, guardian_cookie).json()["access_token"] for _ in range(3)
    }
    assert len(tokens) == 3


def test_the_directory_refuses_a_replayed_token(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    form = _form(portal_key, guardian_cookie, audience="stafett-auth")
    token = client.post("/token", data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    first = client.get("/directory/services", headers=headers)
    second = client.get("/directory/services", headers=headers)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["type"] == "urn:stafettlogg:problem:token-replayed"
    assert "invalid_token" in second.headers["www-authenticate"]
