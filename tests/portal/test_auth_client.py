"""The portal's client of auth: private_key_jwt, and a fresh token exchange for every call."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from services.portal.auth_client import (
    AUDIENCE_AUTH,
    AUDIENCE_LOGG,
    AuthClient,
    AuthUnavailableError,
    SessionExpiredError,
)

AUTH_URL = "http://127.0.0.1:8001"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(handler: httpx.MockTransport, clock: _Clock, key: OKPKey) -> AuthClient:
    return AuthClient(
        httpx.AsyncClient(transport=handler),
        auth_url=AUTH_URL,
        client_id="stafett-portal",
        client_key=key,
        clock=clock,
    )


def _key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": "portal-1"})


def test_client_assertion_is_an_ed25519_jwt_for_auth() -> None:
    key = _key()
    client = _client(httpx.MockTransport(lambda r: httpx.Response(500)), _Clock(), key)
    assertion = client.client_assertion()
    token = jwt.decode(assertion, key, algorithms=["Ed25519"])
    assert token.header["alg"] == "Ed25519"
    assert token.header["kid"] == "portal-1"
    assert token.claims["iss"] == token.claims["sub"] == "stafett-portal"
    assert token.claims["aud"] == AUTH_URL
    assert token.claims["exp"] - token.claims["iat"] == 60
    assert (
        token.claims["jti"]
        != jwt.decode(client.client_assertion(), key, algorithms=["Ed25519"]).claims["jti"]
    )


def test_every_call_gets_a_fresh_token_because_tokens_are_one_shot() -> None:
    forms: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        forms.append(form)
        body = {
            "access_token": f"token-{len(forms)}",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 300,
        }
        return httpx.Response(200, content=json.dumps(body).encode())

    clock = _Clock()
    client = _client(httpx.MockTransport(handle), clock, _key())

    async def scenario() -> list[str]:
        first = await client.access_token("cookie-a", AUDIENCE_LOGG)
        again = await client.access_token("cookie-a", AUDIENCE_LOGG)
        directory = await client.access_token("cookie-a", AUDIENCE_AUTH)
        return [first, again, directory]

    assert asyncio.run(scenario()) == ["token-1", "token-2", "token-3"]
    assert [form["audience"] for form in forms] == ["stafett-logg", "stafett-logg", "stafett-auth"]
    assert forms[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert forms[0]["subject_token"] == "cookie-a"
    assert forms[0]["subject_token_type"] == "urn:stafettlogg:token-type:session"
    assert forms[0]["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert forms[0]["client_assertion"] != forms[1]["client_assertion"]


def test_an_unknown_session_is_expired_but_a_refused_client_is_unavailable() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        if form["subject_token"] == ["bad-client"]:
            return httpx.Response(401, content=b'{"error": "invalid_client"}')
        return httpx.Response(400, content=b'{"error": "invalid_grant"}')

    client = _client(httpx.MockTransport(handle), _Clock(), _key())
    with pytest.raises(SessionExpiredError):
        asyncio.run(client.session_context("gone"))
    with pytest.raises(AuthUnavailableError):
        asyncio.run(client.access_token("bad-client", AUDIENCE_LOGG))


def test_a_principal_id_that_could_shape_the_url_is_never_sent() -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(500)

    from services.portal.auth_client import AuthRefusedError

    client = _client(httpx.MockTransport(handle), _Clock(), _key())
    with pytest.raises(AuthRefusedError):
        asyncio.run(client.principal("cookie", "person", "../token"))
    assert calls == []


def test_municipal_settings_are_read_once_a_minute_and_again_after_a_change_or_on_demand() -> None:
    reads: list[str] = []
    settings = {"youth_consent_age": 16, "retention_years": 10}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            body = {"access_token": "t", "expires_in": 300, "token_type": "Bearer"}
            return httpx.Response(200, content=json.dumps(body).encode())
        assert request.url.path == "/municipality/settings"
        reads.append(request.method)
        if request.method == "PUT":
            settings.update(json.loads(request.content))
        return httpx.Response(200, content=json.dumps(settings).encode())

    clock = _Clock()
    client = _client(httpx.MockTransport(handle), clock, _key())

    async def ages() -> list[int]:
        seen = [(await client.municipal_settings("c")).youth_consent_age]
        seen.append((await client.municipal_settings("c")).youth_consent_age)  # cached
        clock.now += 61
        seen.append((await client.municipal_settings("c")).youth_consent_age)  # expired
        await client.change_municipal_settings("c", youth_consent_age=15, retention_years=10)
        seen.append((await client.municipal_settings("c")).youth_consent_age)  # after a change
        settings["youth_consent_age"] = 16  # changed through another portal instance
        client.forget_municipal_settings()
        seen.append((await client.municipal_settings("c")).youth_consent_age)
        return seen

    assert asyncio.run(ages()) == [16, 16, 16, 15, 16]
    assert reads == ["GET", "GET", "PUT", "GET", "GET"]
