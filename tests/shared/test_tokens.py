from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from shared.tokens import RemoteKeySet, ServiceClaims, ServiceTokenVerifier, TokenError

ISSUER = "http://127.0.0.1:8001"
AUDIENCE = "stafett-logg"


def _key(kid: str) -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


SIGNING_KEY = _key("current")
OTHER_KEY = _key("current")  # same kid, different key: a forgery attempt


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "p_subject",
        "aud": AUDIENCE,
        "role": "guardian",
        "acr": "idporten-loa-high",
        "sign_key": "AAAA",
        "jti": "j1",
        "iat": now,
        "nbf": now,
        "exp": now + 120,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _token(claims: dict[str, Any], key: OKPKey = SIGNING_KEY, kid: str = "current") -> str:
    return jwt.encode({"alg": "Ed25519", "kid": kid}, claims, key, algorithms=["Ed25519"])


def _verifier(keys: KeySet | None = None) -> ServiceTokenVerifier:
    key_set = keys or KeySet([SIGNING_KEY])

    async def source(_kid: str | None) -> KeySet:
        return key_set

    return ServiceTokenVerifier(issuer=ISSUER, audience=AUDIENCE, key_source=source)


@pytest.mark.anyio
async def test_valid_token_gives_claims() -> None:
    claims = await _verifier().verify(_token(_claims(service="sentrum-skole")))
    assert isinstance(claims, ServiceClaims)
    assert (claims.sub, claims.role, claims.service) == ("p_subject", "guardian", "sentrum-skole")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"nbf": int(time.time()) + 600}, "not yet valid"),
        ({"aud": "stafett-auth"}, "another audience"),
        ({"iss": "http://evil.example"}, "another issuer"),
        ({"jti": None}, "no jti"),
        ({"exp": int(time.time()) + 3600}, "lives too long"),
        ({"role": "admin"}, "unknown role"),
    ],
)
async def test_bad_claims_are_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenError):
        await _verifier().verify(_token(_claims(**changes)))


@pytest.mark.anyio
async def test_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(TokenError):
        await _verifier().verify(_token(_claims(), key=OTHER_KEY))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.anyio
async def test_alg_none_is_refused() -> None:
    unsigned = f"{_b64({'alg': 'none', 'kid': 'current'})}.{_b64(_claims())}."
    with pytest.raises(TokenError, match="Ed25519"):
        await _verifier().verify(unsigned)


@pytest.mark.anyio
async def test_hmac_token_is_refused() -> None:
    header = _b64({"alg": "HS256", "kid": "current"})
    with pytest.raises(TokenError, match="Ed25519"):
        await _verifier().verify(f"{header}.{_b64(_claims())}.c2ln")


@pytest.mark.anyio
@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "ø.ø.ø"])
async def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(TokenError):
        await _verifier().verify(garbage)


@pytest.mark.anyio
async def test_remote_key_set_refetches_on_unknown_kid() -> None:
    published = [SIGNING_KEY]
    fetches = 0

    def handler(_request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in published]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        remote = RemoteKeySet("http://auth/jwks", client, min_refetch_seconds=0)
        verifier = ServiceTokenVerifier(issuer=ISSUER, audience=AUDIENCE, key_source=remote.key_set)
        await verifier.verify(_token(_claims()))
        await verifier.verify(_token(_claims()))
        assert fetches == 1
        rotated = _key("next")
        published.append(rotated)
        await verifier.verify(_token(_claims(), key=rotated, kid="next"))
        assert fetches == 2
