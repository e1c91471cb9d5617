"""Bearer tokens: only authentic, current tokens for stafett-logg get in."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from services.logg.app import create_app
from services.logg.authentication import (
    LazyRemoteKeySource,
    LazyReplayCache,
    replay_cache_for,
    sign_key_of,
)
from services.logg.settings import Settings
from shared.db import create_engine, is_sqlite
from shared.replay import MemoryReplayCache, ReplayCacheUnavailableError, SqlReplayCache
from shared.settings import SettingsError
from shared.tokens import ServiceClaims, TokenError
from tests.logg.helpers import Actor, TokenMinter, b64url


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:stafettlogg:problem:unauthenticated"


def test_a_valid_token_is_accepted(client: TestClient[Litestar], minter: TokenMinter) -> None:
    response = client.get("/stafettlogger", headers=minter.headers(Actor.staff()))

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


def test_a_missing_token_is_refused(client: TestClient[Litestar]) -> None:
    _assert_unauthenticated(client.get("/stafettlogger"))


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer not.a.jwt", "Bearer x"],
)
def test_a_malformed_authorization_header_is_refused(
    client: TestClient[Litestar], authorization: str
) -> None:
    _assert_unauthenticated(client.get("/stafettlogger", headers={"Authorization": authorization}))


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "exp": int(time.time()) - 120,
            "iat": int(time.time()) - 240,
            "nbf": int(time.time()) - 240,
        },
        {"aud": "stafett-auth"},
        {"iss": "http://evil.test"},
        {
            "nbf": int(time.time()) + 600,
            "iat": int(time.time()) + 600,
            "exp": int(time.time()) + 700,
        },
        {"exp": int(time.time()) + 3600},  # lives longer than auth may issue
        {"sign_key": "not-a-key"},
        {"sign_key": b64url(b"short")},
        {"jti": None},
        {"role": "admin"},
    ],
)
def test_an_expired_misaddressed_or_malformed_token_is_refused(
    client: TestClient[Litestar], minter: TokenMinter, overrides: dict[str, Any]
) -> None:
    headers = minter.headers(Actor.staff(), **overrides)

    _assert_unauthenticated(client.get("/stafettlogger", headers=headers))


def test_a_token_signed_by_another_key_is_refused(client: TestClient[Litestar]) -> None:
    stranger = TokenMinter(kid=None)

    _assert_unauthenticated(client.get("/stafettlogger", headers=stranger.headers(Actor.staff())))


def test_an_unsigned_alg_none_token_is_refused(
    client: TestClient[Litestar], minter: TokenMinter
) -> None:
    token = minter.unsigned_token(Actor.staff())

    _assert_unauthenticated(
        client.get("/stafettlogger", headers={"Authorization": f"Bearer {token}"})
    )


def test_the_token_is_checked_before_the_body_is_read(client: TestClient[Litestar]) -> None:
    response = client.post(
        "/stafettlogger", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    _assert_unauthenticated(response)


def test_health_and_schema_need_no_token(client: TestClient[Litestar]) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200


def test_sign_key_of_decodes_only_raw_ed25519_keys() -> None:
    actor = Actor.staff()
    claims = ServiceClaims(
        iss="i", sub="s", aud="a", role="staff", acr="x", sign_key=actor.sign_key_claim,
        jti="j", iat=0, nbf=0, exp=0,
    )  # fmt: skip
    assert sign_key_of(claims).public_bytes_raw() == actor.keys.public().sign_public
    for bad in (actor.sign_key_claim + "=", "@@@", b64url(bytes(31)), ""):
        with pytest.raises(TokenError):
            sign_key_of(ServiceClaims(**{**_fields(claims), "sign_key": bad}))


def _fields(claims: ServiceClaims) -> dict[str, Any]:
    return {name: getattr(claims, name) for name in claims.__struct_fields__}


def test_without_an_injected_key_source_the_jwks_is_fetched_from_auth(
    logg_settings: Settings, minter: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested: list[str] = []

    def serve_jwks(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, json=minter.public_keys.as_dict())

    real_client = httpx.AsyncClient

    def mock_client(**kwargs: Any) -> httpx.AsyncClient:
        return real_client(transport=httpx.MockTransport(serve_jwks), **kwargs)

    monkeypatch.setattr("services.logg.app.httpx.AsyncClient", mock_client)
    with TestClient(create_app(logg_settings)) as client:
        response = client.get("/stafettlogger", headers=minter.headers(Actor.staff()))

    assert response.status_code == 200
    assert requested == [logg_settings.auth_jwks_url]


def test_when_auth_cannot_be_reached_tokens_are_refused_with_503_not_accepted(
    logg_settings: Settings, minter: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    real_client = httpx.AsyncClient
    monkeypatch.setattr(
        "services.logg.app.httpx.AsyncClient",
        lambda **kwargs: real_client(transport=httpx.MockTransport(refuse), **kwargs),
    )
    with TestClient(create_app(logg_settings)) as client:
        response = client.get("/stafettlogger", headers=minter.headers(Actor.staff()))

    assert response.status_code == 503
    assert response.json()["type"] == "urn:stafettlogg:problem:keys-unavailable"


@pytest.mark.anyio
async def test_the_lazy_key_source_refuses_before_the_app_has_started() -> None:
    with pytest.raises(TokenError):
        await LazyRemoteKeySource()("kid")


def test_a_replayed_token_is_refused_with_token_replayed(
    client: TestClient[Litestar], minter: TokenMinter
) -> None:
    headers = minter.headers(Actor.staff())
    first = client.get("/stafettlogger", headers=headers)
    second = client.get("/stafettlogger", headers=headers)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["type"] == "urn:stafettlogg:problem:token-replayed"
    assert 'error="invalid_token"' in second.headers["www-authenticate"]


def test_a_refused_token_can_not_be_used_to_burn_a_valid_tokens_jti(
    client: TestClient[Litestar], minter: TokenMinter
) -> None:
    actor = Actor.staff()
    forged = TokenMinter().token(actor, jti="shared-jti")
    genuine = minter.token(actor, jti="shared-jti")
    forged_response = client.get("/stafettlogger", headers={"Authorization": f"Bearer {forged}"})
    genuine_response = client.get("/stafettlogger", headers={"Authorization": f"Bearer {genuine}"})
    assert forged_response.status_code == 401
    assert genuine_response.status_code == 200


@pytest.mark.anyio
async def test_the_lazy_replay_cache_refuses_before_the_app_has_started() -> None:
    with pytest.raises(ReplayCacheUnavailableError):
        await LazyReplayCache().first_use("jti", 2**40)


def test_the_replay_cache_follows_the_database_kind(logg_settings: Settings) -> None:
    engine = create_engine(logg_settings.database_url)
    try:
        cache = replay_cache_for(database_url=logg_settings.database_url, engine=engine, redis=None)
    finally:
        asyncio.run(engine.dispose())
    expected = MemoryReplayCache if is_sqlite(logg_settings.database_url) else SqlReplayCache
    assert isinstance(cache, expected)


def test_the_replay_redis_url_must_be_a_redis_url() -> None:
    with pytest.raises(SettingsError, match="STAFETT_LOGG_REPLAY_REDIS_URL"):
        Settings.from_env({"STAFETT_LOGG_REPLAY_REDIS_URL": "http://cache"})
    settings = Settings.from_env({"STAFETT_LOGG_REPLAY_REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert settings.replay_redis_url == "redis://127.0.0.1:6379/3"


def test_with_redis_configured_replays_are_refused_across_two_logg_instances(
    logg_settings: Settings, minter: TokenMinter
) -> None:
    url = os.environ.get("STAFETT_TEST_REDIS_URL")
    if not url:
        if os.environ.get("STAFETT_REQUIRE_REDIS") == "1":
            pytest.fail("STAFETT_REQUIRE_REDIS=1 but STAFETT_TEST_REDIS_URL is not set")
        pytest.skip("set STAFETT_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15) to test Redis")
    settings = msgspec.structs.replace(logg_settings, replay_redis_url=url)
    headers = minter.headers(Actor.staff())
    with (
        TestClient(create_app(settings, key_source=minter.key_source)) as one,
        TestClient(create_app(settings, key_source=minter.key_source)) as other,
    ):
        assert one.get("/stafettlogger", headers=headers).status_code == 200
        replay = other.get("/stafettlogger", headers=headers)
    assert replay.status_code == 401
    assert replay.json()["type"] == "urn:stafettlogg:problem:token-replayed"
