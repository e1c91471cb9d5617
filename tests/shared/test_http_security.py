"""The shared security-header hook: the same headers on every response, framing only where
the policy allows it, no-store on pages, HSTS only over https."""

from __future__ import annotations

import pytest
from litestar import Litestar, Response, get
from litestar.testing import TestClient

from shared.http_security import (
    HSTS_VALUE,
    SecurityHeaderPolicy,
    content_security_policy,
    security_headers_hook,
)


@get("/page")
async def page() -> str:
    return "page"


@get("/framed", opt={"frameable": True})
async def framed() -> str:
    return "framed"


@get("/misspelt", opts={"frameable": True})
async def misspelt() -> str:
    return "misspelt"


@get("/keys.json", cache_control=None)
async def cacheable_keys() -> Response[str]:
    return Response("{}", headers={"Cache-Control": "public, max-age=300"})


@get("/keys-without-choice.json")
async def keys_without_choice() -> str:
    return "{}"


@get("/static/app.css", media_type="text/css")
async def stylesheet() -> str:
    return "body{}"


def _app(*, hsts: bool) -> Litestar:
    policy = SecurityHeaderPolicy(
        csp={"default-src": ["'self'"], "frame-ancestors": ["'none'"]},
        hsts=hsts,
        frameable_by=["https://idp.example"],
        frameable_route_opt="frameable",
        cacheable_prefixes=("/static/",),
        cacheable_paths=frozenset({"/keys.json", "/keys-without-choice.json"}),
        vary_hx_request=True,
    )
    return Litestar(
        [page, framed, misspelt, cacheable_keys, keys_without_choice, stylesheet],
        before_send=[security_headers_hook(policy)],
    )


def test_every_response_gets_the_headers_even_errors() -> None:
    with TestClient(_app(hsts=False)) as client:
        for path in ("/page", "/does-not-exist"):
            response = client.get(path)
            assert response.headers["content-security-policy"] == (
                "default-src 'self'; frame-ancestors 'none'"
            )
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["cross-origin-opener-policy"] == "same-origin"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["cache-control"] == "no-store"
            assert "HX-Request" in response.headers["vary"]
            assert "strict-transport-security" not in response.headers


def test_only_marked_routes_may_be_framed_and_only_by_the_listed_origins() -> None:
    with TestClient(_app(hsts=False)) as client:
        response = client.get("/framed")
        assert response.headers["content-security-policy"] == (
            "default-src 'self'; frame-ancestors https://idp.example"
        )
        assert "x-frame-options" not in response.headers


def test_a_route_marked_with_another_keyword_than_opt_is_not_framable() -> None:
    with TestClient(_app(hsts=False)) as client:
        response = client.get("/misspelt")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"


def test_a_cacheable_path_keeps_its_handlers_cache_control_or_gets_no_store() -> None:
    with TestClient(_app(hsts=False)) as client:
        kept = client.get("/keys.json")
        assert kept.headers["cache-control"] == "public, max-age=300"
        assert kept.headers["x-frame-options"] == "DENY"
        assert client.get("/keys-without-choice.json").headers["cache-control"] == "no-store"
        assert client.post("/keys.json").headers["cache-control"] == "no-store"  # 405
        assert client.get("/keys.json/more").headers["cache-control"] == "no-store"


def test_static_files_may_be_cached_and_hsts_is_sent_over_https() -> None:
    with TestClient(_app(hsts=True)) as client:
        response = client.get("/static/app.css")
        assert "cache-control" not in response.headers
        assert response.headers["strict-transport-security"] == HSTS_VALUE
        assert HSTS_VALUE == "max-age=63072000; includeSubDomains"


@pytest.mark.parametrize("source", ["https://a.example; script-src *", "a,b", "two words", ""])
def test_a_source_cannot_inject_a_directive(source: str) -> None:
    with pytest.raises(ValueError, match="CSP"):
        content_security_policy({"form-action": ["'self'", source]})
