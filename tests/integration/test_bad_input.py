"""Bad input to each real service gets a clear 4xx, never a 500."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from tests.product import RunningProduct, running_product

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProduct]:
    with running_product(tmp_path_factory.mktemp("product")) as running:
        yield running


@pytest.mark.parametrize("service", ["portal", "auth", "logg"])
def test_unknown_routes_are_404(product: RunningProduct, service: str) -> None:
    base = getattr(product, f"{service}_url")
    response = httpx.get(f"{base}/finnes-ikke/../ikke-her")
    assert response.status_code == 404


def _forged_token(product: RunningProduct, **changes: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": product.auth_url,
        "sub": "p_forger",
        "aud": "stafett-logg",
        "role": "staff",
        "acr": "idporten-loa-high",
        "sign_key": "AAAA",
        "jti": "j",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    claims.update(changes)
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "forged"})
    return jwt.encode({"alg": "Ed25519", "kid": "forged"}, claims, key, algorithms=["Ed25519"])


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "forged", "forged-expired"],
)
def test_logg_refuses_missing_and_forged_tokens(
    product: RunningProduct, authorization: str | None
) -> None:
    headers = {}
    if authorization == "forged":
        headers["Authorization"] = f"Bearer {_forged_token(product)}"
    elif authorization == "forged-expired":
        expired = _forged_token(product, exp=int(time.time()) - 600, iat=int(time.time()) - 700)
        headers["Authorization"] = f"Bearer {expired}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    response = httpx.get(f"{product.logg_url}/stafettlogger", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_logg_refuses_malformed_json(product: RunningProduct) -> None:
    response = httpx.post(
        f"{product.logg_url}/stafettlogger",
        content=b"{not json",
        headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("service", ["portal", "auth", "logg"])
def test_oversized_bodies_are_refused(product: RunningProduct, service: str) -> None:
    base = getattr(product, f"{service}_url")
    path = {"portal": "/stafettlogger", "auth": "/token", "logg": "/stafettlogger"}[service]
    response = httpx.post(
        f"{base}{path}",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500


def test_auth_token_endpoint_refuses_garbage_forms(product: RunningProduct) -> None:
    response = httpx.post(f"{product.auth_url}/token", data={"grant_type": "password"})
    assert response.status_code in {400, 401}
    assert "error" in response.json()


def test_auth_directory_refuses_malformed_json_and_missing_tokens(product: RunningProduct) -> None:
    response = httpx.post(
        f"{product.auth_url}/directory/persons/lookup",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in {400, 401}


def test_portal_refuses_a_post_without_csrf_token(product: RunningProduct) -> None:
    response = httpx.post(
        f"{product.portal_url}/stafettlogger", data={"child_name": "x", "title": "y"}
    )
    assert response.status_code == 403


def test_auth_login_refuses_an_open_redirect(product: RunningProduct) -> None:
    response = httpx.get(
        f"{product.auth_url}/login", params={"kind": "guardian", "next": "//evil.example/"}
    )
    assert response.status_code == 400


def test_auth_callback_without_a_login_in_progress_is_refused(product: RunningProduct) -> None:
    response = httpx.get(
        f"{product.auth_url}/callback",
        params={"code": "x", "state": "y", "iss": f"{product.auth_url}/test-idp"},
    )
    assert response.status_code == 400
