"""The relying party against a scripted provider (httpx.MockTransport): PAR or not, client
authentication, discovery and JWKS caching and refetching, RFC 9207 `iss`."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.auth.oidc import (
    CLIENT_ASSERTION_TYPE,
    LoginError,
    ProviderConfig,
    RelyingParty,
    make_client_assertion,
)

ISSUER = "https://idporten.example"
CLIENT = "stafettlogg-idporten"
CALLBACK = "https://stafett.example/auth/callback"
KARI = "12838510068"


@pytest.fixture(scope="module")
def client_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "client-1"})


@pytest.fixture(scope="module")
def idp_keys() -> tuple[RSAKey, RSAKey]:
    return (
        RSAKey.generate_key(2048, parameters={"kid": "idp-1"}),
        RSAKey.generate_key(2048, parameters={"kid": "idp-2"}),
    )


class FakeProvider:
    """A scripted OpenID Provider: records every request and answers from its settings."""

    def __init__(self, signing_key: RSAKey) -> None:
        self.signing_key = signing_key
        self.published: list[RSAKey] = [signing_key]
        self.offer_par = True
        self.token_endpoint = f"{ISSUER}/token"
        self.token_status = 200
        self.iss_supported = True
        self.requests: list[httpx.Request] = []
        self.id_token_claims: dict[str, Any] = {}
        self.dead_token_paths: set[str] = set()

    def discovery(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{ISSUER}/jwks",
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": self.iss_supported,
        }
        if self.offer_par:
            document["pushed_authorization_request_endpoint"] = f"{ISSUER}/par"
        return document

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT,
            "sub": "pairwise",
            "iat": now,
            "exp": now + 120,
            "nonce": nonce,
            "acr": "idporten-loa-high",
            "pid": KARI,
            "sid": "sid-1",
        } | self.id_token_claims
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        return jwt.encode(header, claims, self.signing_key, algorithms=["RS256"])

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery())
        if path == "/jwks":
            keys = KeySet([RSAKey.import_key(k.as_dict(private=False)) for k in self.published])
            return httpx.Response(200, json=keys.as_dict())
        if path in self.dead_token_paths:
            return httpx.Response(503, text="unavailable")
        if path == "/par":
            return httpx.Response(201, json={"request_uri": "urn:x:1", "expires_in": 60})
        if str(request.url) == self.token_endpoint:
            if self.token_status != 200:
                return httpx.Response(self.token_status, text="unavailable")
            return httpx.Response(200, json={"id_token": self.id_token("nonce-1")})
        return httpx.Response(404)

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


def _relying_party(
    provider: FakeProvider, client_key: RSAKey, config: ProviderConfig | None = None
) -> RelyingParty:
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    config = config or ProviderConfig("guardian", ISSUER, CLIENT, "idporten-loa-high")
    return RelyingParty(
        {"guardian": config}, client_key=client_key, redirect_uri=CALLBACK, http=http
    )


def _form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def _complete(rp: RelyingParty, response_iss: str | None = ISSUER) -> Any:
    return asyncio.run(
        rp.complete(
            rp.provider("guardian"),
            code="code-1",
            response_iss=response_iss,
            nonce="nonce-1",
            code_verifier="v" * 64,
        )
    )


def test_client_assertion_follows_rfc_7523_with_the_issuer_as_audience(
    client_key: RSAKey,
) -> None:
    first = make_client_assertion(client_key, client_id=CLIENT, audience=ISSUER)
    second = make_client_assertion(client_key, client_id=CLIENT, audience=ISSUER)
    public = RSAKey.import_key(client_key.as_dict(private=False))
    token = jwt.decode(first, public, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] == "client-1"
    assert token.claims["iss"] == token.claims["sub"] == CLIENT
    assert token.claims["aud"] == ISSUER
    assert 0 < token.claims["exp"] - token.claims["iat"] <= 120
    other = jwt.decode(second, public, algorithms=["RS256"])
    assert token.claims["jti"] != other.claims["jti"]


def test_authorization_request_is_pushed_when_discovery_offers_par(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    start = asyncio.run(_relying_party(provider, client_key).begin("guardian"))
    assert start.pushed
    query = parse_qs(urlsplit(start.authorize_url).query)
    assert query == {"client_id": [CLIENT], "request_uri": ["urn:x:1"]}
    pushed = _form(next(r for r in provider.requests if r.url.path == "/par"))
    assert pushed["code_challenge_method"] == "S256"
    assert pushed["acr_values"] == "idporten-loa-high"
    assert pushed["state"] == start.state
    assert pushed["nonce"] == start.nonce
    assert pushed["client_assertion_type"] == CLIENT_ASSERTION_TYPE


def test_plain_authorization_request_when_the_provider_has_no_par(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    provider.offer_par = False
    start = asyncio.run(_relying_party(provider, client_key).begin("guardian"))
    assert not start.pushed
    assert "/par" not in provider.paths()
    url = urlsplit(start.authorize_url)
    assert url.path == "/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"] == start.state
    assert query["nonce"] == start.nonce
    assert query["acr_values"] == "idporten-loa-high"
    assert query["ui_locales"] == "nb"
    assert query["redirect_uri"] == CALLBACK
    assert "client_assertion" not in query


def test_each_attempt_draws_fresh_state_nonce_and_verifier(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    rp = _relying_party(FakeProvider(idp_keys[0]), client_key)
    first, second = asyncio.run(rp.begin("guardian")), asyncio.run(rp.begin("guardian"))
    assert len({first.state, second.state, first.nonce, second.nonce}) == 4
    assert first.code_verifier != second.code_verifier


def test_client_secret_basic_sends_the_secret_in_the_authorization_header_only(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    config = ProviderConfig(
        "guardian",
        ISSUER,
        CLIENT,
        "idporten-loa-high",
        client_auth="client_secret_basic",
        client_secret="s3cret:/+",
    )
    rp = _relying_party(provider, client_key, config)
    asyncio.run(rp.begin("guardian"))
    _complete(rp)
    token_request = next(r for r in provider.requests if r.url.path == "/token")
    scheme, _, encoded = token_request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{CLIENT}:s3cret%3A%2F%2B"
    assert "client_assertion" not in _form(token_request)
    assert "s3cret" not in repr(config)


def test_client_secret_basic_without_a_secret_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="secret"):
        ProviderConfig(
            "guardian", ISSUER, CLIENT, "idporten-loa-high", client_auth="client_secret_basic"
        )


def test_discovery_is_cached_between_logins(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    rp = _relying_party(provider, client_key)
    for _ in range(3):
        asyncio.run(rp.begin("guardian"))
    assert provider.paths().count("/.well-known/openid-configuration") == 1


def test_jwks_is_fetched_again_when_the_provider_rotates_its_key(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    rp = _relying_party(provider, client_key)
    assert _complete(rp).claims.pid == KARI
    provider.signing_key = idp_keys[1]
    provider.published = [idp_keys[0], idp_keys[1]]
    rp._jwks[ISSUER] = (rp._jwks[ISSUER][0], time.monotonic() - 60)  # past the rate limit
    assert _complete(rp).claims.pid == KARI
    assert provider.paths().count("/jwks") == 2


def test_unknown_kid_refetches_jwks_at_most_once_per_ten_seconds(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    rp = _relying_party(provider, client_key)
    _complete(rp)
    provider.signing_key = idp_keys[1]  # signs with a key it never publishes
    for _ in range(3):
        with pytest.raises(LoginError):
            _complete(rp)
    assert provider.paths().count("/jwks") == 1


def test_token_endpoint_failure_refetches_discovery_but_does_not_resend_the_code(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    provider.token_status = 503
    with pytest.raises(LoginError) as refused:
        _complete(_relying_party(provider, client_key))
    assert refused.value.reason == "provider"
    assert provider.paths().count("/.well-known/openid-configuration") == 2
    assert provider.paths().count("/token") == 1  # the same endpoint may have spent the code


def test_token_endpoint_failure_follows_an_endpoint_that_discovery_moved(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    provider.dead_token_paths.add("/token")
    rp = _relying_party(provider, client_key)
    asyncio.run(rp.begin("guardian"))
    provider.token_endpoint = f"{ISSUER}/token-v2"  # discovery now names the new endpoint
    assert _complete(rp).claims.pid == KARI
    assert [p for p in provider.paths() if p.startswith("/token")] == ["/token", "/token-v2"]


def test_missing_iss_is_refused_when_the_provider_advertises_it(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    with pytest.raises(LoginError) as refused:
        _complete(_relying_party(provider, client_key), response_iss=None)
    assert refused.value.reason == "iss"
    assert "/token" not in provider.paths()  # refused before the code was spent


def test_missing_iss_is_accepted_when_the_provider_does_not_send_it(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    provider.iss_supported = False
    assert _complete(_relying_party(provider, client_key), response_iss=None).claims.pid == KARI


def test_discovery_naming_another_issuer_is_refused(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    original = provider.discovery
    provider.discovery = lambda: original() | {"issuer": "https://evil.example"}  # type: ignore[method-assign]
    with pytest.raises(LoginError) as refused:
        asyncio.run(_relying_party(provider, client_key).begin("guardian"))
    assert refused.value.reason == "provider"


def test_token_response_is_refused_when_it_is_not_json(
    client_key: RSAKey, idp_keys: tuple[RSAKey, RSAKey]
) -> None:
    provider = FakeProvider(idp_keys[0])
    provider.token_status = 400
    with pytest.raises(LoginError):
        _complete(_relying_party(provider, client_key))
    assert json.dumps(provider.discovery())  # the scripted provider stays serialisable
