"""Helpers for auth tests: the in-process network, the portal's client assertion, the login walk."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient

__all__ = [
    "AUTH_URL",
    "PORTAL_URL",
    "RewritingTransport",
    "TokenRewriter",
    "callback_url_for",
    "csrf_token_of",
    "log_in",
    "portal_assertion",
    "portal_form",
    "query_of",
]

AUTH_URL = "http://127.0.0.1:8001"
PORTAL_URL = "http://127.0.0.1:8000"

TokenRewriter = Callable[[dict[str, Any]], dict[str, Any]]


class RewritingTransport(httpx.AsyncBaseTransport):
    """Routes the relying party's HTTP into the app under test; optionally rewrites the test
    IdP's token response, to play a provider (or a man in the middle) that misbehaves."""

    def __init__(self) -> None:
        self.inner: httpx.ASGITransport | None = None
        self.token_rewriter: TokenRewriter | None = None

    def attach(self, app: Litestar) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar is ASGI

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.inner is None:
            raise RuntimeError("attach the app first")
        response = await self.inner.handle_async_request(request)
        if self.token_rewriter is None or not request.url.path.endswith("/test-idp/token"):
            return response
        body = await response.aread()
        rewritten = self.token_rewriter(httpx.Response(200, content=body).json())
        return httpx.Response(response.status_code, json=rewritten)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def csrf_token_of(page_text: str) -> str:
    """The test IdP login form's CSRF token (bound to its pending request and the browser)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match is not None, "the login form has no CSRF token"
    return match.group(1)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def callback_url_for(
    client: TestClient[Litestar],
    kind: str,
    pid: str,
    *,
    acr: str = "idporten-loa-high",
    next_path: str = "/",
) -> str:
    """Walk /login → the test IdP's login page → choose a person; return the callback URL."""
    start = client.get("/login", params={"kind": kind, "next": next_path})
    assert start.status_code == 303, start.text
    page = client.get(_path(start.headers["location"]))
    assert page.status_code == 200, page.text
    match = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert match is not None
    chosen = client.post(
        "/test-idp/login",
        data={
            "request_id": match.group(1),
            "csrf_token": csrf_token_of(page.text),
            "pid": pid,
            "acr": acr,
        },
    )
    assert chosen.status_code == 303, chosen.text
    location = chosen.headers["location"]
    assert location.startswith(f"{AUTH_URL}/callback?")
    return location


def log_in(
    client: TestClient[Litestar],
    kind: str,
    pid: str,
    *,
    acr: str = "idporten-loa-high",
    next_path: str = "/",
) -> httpx.Response:
    """The whole browser login; returns the callback's response."""
    return client.get(_path(callback_url_for(client, kind, pid, acr=acr, next_path=next_path)))


def portal_assertion(
    key: OKPKey,
    *,
    audience: str = AUTH_URL,
    lifetime: int = 60,
    issuer: str = "stafett-portal",
    jti: str | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or secrets.token_urlsafe(16),
    }
    return jwt.encode({"alg": "Ed25519", "kid": key.kid}, claims, key, algorithms=["Ed25519"])


def portal_form(key: OKPKey, session_cookie: str, **extra: str) -> dict[str, str]:
    return {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": portal_assertion(key),
        "subject_token": session_cookie,
        "subject_token_type": "urn:stafettlogg:token-type:session",
        **extra,
    }
