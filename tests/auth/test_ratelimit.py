"""Rate limits on auth's login and token endpoints: counted per address and per account, shared
by every instance (SQL or Redis), answered with 429 and Retry-After in each route's own style."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth.app import create_app
from services.auth.ratelimit import RateLimitRule, build_rate_limiter, client_address
from services.auth.settings import Settings
from shared.db import create_engine
from tests.auth.helpers import AUTH_URL, RewritingTransport, log_in, portal_form
from tests.auth.redis_fixtures import RedisTarget, redis_keys, redis_target

__all__ = ["redis_target"]  # the fixture, imported for pytest

KARI = "12838510068"
PROXY = [ipaddress.ip_network("10.0.0.0/8")]


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_040.0  # 20 s into a minute (1_900_000_020 starts one)

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sql", "redis"])
def backend_environ(request: pytest.FixtureRequest, environ: dict[str, str]) -> dict[str, str]:
    """auth's environment with the rate-limit counters in SQL or in Redis."""
    if request.param == "sql":
        return environ
    target: RedisTarget = request.getfixturevalue("redis_target")
    return {
        **environ,
        "STAFETT_RATE_LIMIT_REDIS_URL": target.url,
        "STAFETT_REDIS_KEY_PREFIX": target.prefix,
    }


def _client(environ: dict[str, str], **limits: str) -> Iterator[TestClient[Litestar]]:
    settings = Settings.from_env({**environ, **limits})
    transport = RewritingTransport()
    app = create_app(settings, http_transport=transport)
    transport.attach(app)
    with TestClient(app, base_url=AUTH_URL) as client:
        client.follow_redirects = False
        yield client


# --- the client address --------------------------------------------------------------------------


def test_the_socket_peer_is_the_address_and_x_forwarded_for_is_ignored_from_others() -> None:
    assert client_address("203.0.113.9", [], PROXY) == "203.0.113.9"
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXY) == "203.0.113.9"


def test_x_forwarded_for_counts_only_from_a_trusted_proxy_and_from_the_right() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7"], PROXY) == "198.51.100.7"
    # The client wrote the left-most entry itself; the proxy appended the address it saw.
    assert client_address("10.0.0.2", ["1.2.3.4, 198.51.100.7"], PROXY) == "198.51.100.7"
    assert client_address("10.0.0.2", ["198.51.100.7, 10.0.0.9"], PROXY) == "198.51.100.7"
    assert client_address("10.0.0.2", ["not-an-ip"], PROXY) == "10.0.0.2"


def test_ipv6_clients_are_counted_by_their_64_network() -> None:
    first = client_address("2001:db8:1:2::1", [], PROXY)
    second = client_address("2001:db8:1:2:ffff::9", [], PROXY)
    assert first == second == "2001:db8:1:2::/64"


# --- the counters, on both backends -------------------------------------------------------------


def test_a_limit_refuses_the_request_over_it_until_the_window_ends(
    backend_environ: dict[str, str],
) -> None:
    settings = Settings.from_env(backend_environ)
    clock = Clock()

    async def scenario() -> list[int | None]:
        engine = create_engine(settings.database_url)
        limiter = build_rate_limiter(
            settings, async_sessionmaker(engine, expire_on_commit=False), clock=clock
        )
        rule = RateLimitRule("test", 3)
        waits = [await limiter.check([(rule, "203.0.113.9")]) for _ in range(4)]
        waits.append(await limiter.check([(rule, "203.0.113.10")]))  # another key
        clock.now += 60
        waits.append(await limiter.check([(rule, "203.0.113.9")]))  # the next window
        await limiter.close()
        await engine.dispose()
        return waits

    assert asyncio.run(scenario()) == [None, None, None, 40, None, None]


# --- the routes ---------------------------------------------------------------------------------


def test_login_over_the_limit_gets_a_norwegian_429_page_with_retry_after(
    backend_environ: dict[str, str],
) -> None:
    for client in _client(backend_environ, STAFETT_RATE_LIMIT_LOGIN_PER_MINUTE="2"):
        for _ in range(2):
            assert client.get("/login", params={"kind": "guardian"}).status_code == 303
        refused = client.get("/login", params={"kind": "guardian"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["content-type"].startswith("text/html")
        assert "For mange forsøk" in refused.text
        assert client.get("/callback", params={"state": "x"}).status_code == 429


def test_logins_of_one_account_are_limited_once_the_account_is_known(
    backend_environ: dict[str, str],
) -> None:
    limits = {"STAFETT_RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE": "2"}
    for client in _client(backend_environ, **limits):
        assert log_in(client, "guardian", KARI).status_code == 303
        assert log_in(client, "guardian", KARI).status_code == 303
        refused = log_in(client, "guardian", KARI)
        assert refused.status_code == 429
        assert "for mange ganger" in refused.text
        assert log_in(client, "guardian", "05878220074").status_code == 303  # another account


def test_two_auth_instances_share_one_limit(backend_environ: dict[str, str]) -> None:
    limits = {"STAFETT_RATE_LIMIT_LOGIN_PER_MINUTE": "2"}
    for first in _client(backend_environ, **limits):
        for second in _client(backend_environ, **limits):
            assert first.get("/login", params={"kind": "staff"}).status_code == 303
            assert second.get("/login", params={"kind": "staff"}).status_code == 303
            assert first.get("/login", params={"kind": "staff"}).status_code == 429


def test_token_endpoint_limits_each_session_and_answers_in_oauth_style(
    backend_environ: dict[str, str], portal_key: OKPKey
) -> None:
    limits = {"STAFETT_RATE_LIMIT_TOKEN_PER_ACCOUNT_PER_MINUTE": "2"}
    for client in _client(backend_environ, **limits):
        assert log_in(client, "guardian", KARI).status_code == 303
        cookie = client.cookies["stafett_session"]
        for _ in range(2):
            assert client.post("/session", data=portal_form(portal_key, cookie)).status_code == 200
        refused = client.post("/session", data=portal_form(portal_key, cookie))
        assert refused.status_code == 429
        assert refused.json()["error"] == "temporarily_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["cache-control"] == "no-store"
        other_session = client.post(
            "/token", data=portal_form(portal_key, "A" * 43 + "." + "B" * 43)
        )
        assert other_session.status_code != 429


def test_token_endpoint_limits_each_address(backend_environ: dict[str, str]) -> None:
    for client in _client(backend_environ, STAFETT_RATE_LIMIT_TOKEN_PER_MINUTE="1"):
        assert client.post("/token", data={"grant_type": "x"}).status_code == 400
        assert client.post("/token", data={"grant_type": "x"}).status_code == 429


def test_person_lookup_over_the_limit_is_a_429_problem(environ: dict[str, str]) -> None:
    for client in _client(environ, STAFETT_RATE_LIMIT_TOKEN_PER_MINUTE="1"):
        first = client.post("/directory/persons/lookup", json={"pid": KARI})
        assert first.status_code == 401
        refused = client.post("/directory/persons/lookup", json={"pid": KARI})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "urn:stafettlogg:problem:rate-limited"


def test_test_idp_login_form_is_limited_like_login(environ: dict[str, str]) -> None:
    for client in _client(environ, STAFETT_RATE_LIMIT_LOGIN_PER_MINUTE="1"):
        assert client.post("/test-idp/login", data={}).status_code == 400
        assert client.post("/test-idp/login", data={}).status_code == 429


def test_an_unreachable_redis_refuses_requests_instead_of_letting_them_through(
    environ: dict[str, str],
) -> None:
    closed_port = {"STAFETT_RATE_LIMIT_REDIS_URL": "redis://127.0.0.1:1/0"}
    for client in _client(environ, **closed_port):
        response = client.get("/login", params={"kind": "guardian"})
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        assert client.get("/.well-known/jwks.json").status_code == 200  # not limited


def test_redis_counters_store_no_address(
    redis_target: RedisTarget, environ: dict[str, str]
) -> None:
    limits = {
        "STAFETT_RATE_LIMIT_REDIS_URL": redis_target.url,
        "STAFETT_REDIS_KEY_PREFIX": redis_target.prefix,
    }
    for client in _client(environ, **limits):
        assert client.get("/login", params={"kind": "guardian"}).status_code == 303
    keys = redis_keys(redis_target)
    assert keys
    assert all(b"testclient" not in key for key in keys)
