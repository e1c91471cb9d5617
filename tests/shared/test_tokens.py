from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from shared.replay import MemoryReplayCache
from shared.tokens import (
    MAX_TOKEN_LIFETIME,
    RemoteKeySet,
    ServiceClaims,
    ServiceTokenVerifier,
    SigningKeysUnavailableError,
    TokenError,
    TokenReplayedError,
)

ISSUER = "http://127.0.0.1:8001"
AUDIENCE = "stafett-logg"


def _key(kid: str) -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


_T0 = int(time.time())  # parameters are built at collection; the tests run later
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


def _token(
    claims: dict[str, Any], key: OKPKey = SIGNING_KEY, kid: str = "current", typ: str = "at+jwt"
) -> str:
    header = {"alg": "Ed25519", "kid": kid, "typ": typ}
    return jwt.encode(header, claims, key, algorithms=["Ed25519"])


def _verifier(
    keys: KeySet | None = None, *, replay: MemoryReplayCache | None = None
) -> ServiceTokenVerifier:
    key_set = keys or KeySet([SIGNING_KEY])

    async def source(_kid: str | None) -> KeySet:
        return key_set

    return ServiceTokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, key_source=source, replay_cache=replay
    )


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
        ({"iat": _T0, "nbf": _T0, "exp": _T0 + MAX_TOKEN_LIFETIME + 1}, "one second too long"),
        ({"exp": "tomorrow"}, "exp not a number"),
        ({"iat": "now"}, "iat not a number"),
        ({"iat": int(time.time()) + 600}, "issued in the future"),
        ({"aud": [AUDIENCE, "stafett-auth"]}, "several audiences"),
        ({"sub": None}, "no subject"),
        ({"role": "admin"}, "unknown role"),
        ({"admin": True, "role": "guardian"}, "a guardian cannot be an administrator"),
        ({"admin": "yes"}, "admin not a boolean"),
        ({"jti": "x" * 200}, "overlong jti"),
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
        verifier = ServiceTokenVerifier(
            issuer=ISSUER, audience=AUDIENCE, key_source=remote.key_set, replay_cache=None
        )
        await verifier.verify(_token(_claims()))
        await verifier.verify(_token(_claims()))
        assert fetches == 1
        rotated = _key("next")
        published.append(rotated)
        await verifier.verify(_token(_claims(), key=rotated, kid="next"))
        assert fetches == 2


@pytest.mark.anyio
async def test_token_of_the_longest_lifetime_is_accepted() -> None:
    now = int(time.time())
    claims = await _verifier().verify(_token(_claims(iat=now, exp=now + MAX_TOKEN_LIFETIME)))
    assert claims.exp - claims.iat == MAX_TOKEN_LIFETIME


@pytest.mark.anyio
async def test_admin_claim_is_read_for_staff_and_defaults_to_false() -> None:
    admin = await _verifier().verify(_token(_claims(role="staff", admin=True)))
    plain = await _verifier().verify(_token(_claims()))
    assert (admin.admin, plain.admin) == (True, False)


@pytest.mark.anyio
@pytest.mark.parametrize("typ", ["JWT", "jwt", ""])
async def test_token_without_the_access_token_typ_is_refused(typ: str) -> None:
    with pytest.raises(TokenError, match="typ"):
        await _verifier().verify(_token(_claims(), typ=typ))


@pytest.mark.anyio
async def test_expiry_is_judged_by_the_injected_clock_with_thirty_seconds_leeway() -> None:
    now = int(time.time())
    token = _token(_claims(iat=now, nbf=now, exp=now + 60))

    async def source(_kid: str | None) -> KeySet:
        return KeySet([SIGNING_KEY])

    def verifier_at(moment: int) -> ServiceTokenVerifier:
        return ServiceTokenVerifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            key_source=source,
            replay_cache=None,
            clock=lambda: moment,
        )

    assert (await verifier_at(now + 89).verify(token)).sub == "p_subject"
    with pytest.raises(TokenError):
        await verifier_at(now + 91).verify(token)


@pytest.mark.anyio
async def test_a_token_is_accepted_once_with_a_replay_cache() -> None:
    verifier = _verifier(replay=MemoryReplayCache(namespace=AUDIENCE))
    token = _token(_claims(jti="once"))
    assert (await verifier.verify(token)).jti == "once"
    with pytest.raises(TokenReplayedError):
        await verifier.verify(token)
    assert (await verifier.verify(_token(_claims(jti="another")))).jti == "another"


@pytest.mark.anyio
async def test_a_refused_token_does_not_spend_its_jti() -> None:
    replay = MemoryReplayCache(namespace=AUDIENCE)
    verifier = _verifier(replay=replay)
    with pytest.raises(TokenError):
        await verifier.verify(_token(_claims(jti="forged"), key=OTHER_KEY))
    assert len(replay) == 0
    assert (await verifier.verify(_token(_claims(jti="forged")))).jti == "forged"


@pytest.mark.anyio
async def test_remote_key_set_refetches_when_its_copy_is_too_old_so_retired_keys_go() -> None:
    published = [SIGNING_KEY]
    moment = 1000.0

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in published]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        remote = RemoteKeySet("http://auth/jwks", client, max_age_seconds=300, clock=lambda: moment)
        verifier = ServiceTokenVerifier(
            issuer=ISSUER, audience=AUDIENCE, key_source=remote.key_set, replay_cache=None
        )
        await verifier.verify(_token(_claims()))
        published.clear()
        published.append(_key("next"))  # auth retired "current"
        moment += 299
        await verifier.verify(_token(_claims()))  # still cached
        moment += 2
        with pytest.raises(TokenError):
            await verifier.verify(_token(_claims()))


@pytest.mark.anyio
async def test_remote_key_set_that_cannot_fetch_raises_keys_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        remote = RemoteKeySet("http://auth/jwks", client)
        with pytest.raises(SigningKeysUnavailableError):
            await remote.key_set("current")
