from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jwt
from joserfc.errors import JoseError
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


# The fast path (ServiceTokenVerifier._fast_verified_payload) verifies auth's tokens with
# cryptography directly; it may only ever accept what joserfc's jwt.decode accepts.


def _sign_raw(header: dict[str, Any], payload: bytes, key: OKPKey = SIGNING_KEY) -> str:
    """A compact JWS over any payload bytes, signed with the Ed25519 key."""
    signing_input = f"{_b64(header)}.{_b64_bytes(payload)}"
    private = key.private_key
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    signature = private.sign(signing_input.encode())
    return f"{signing_input}.{_b64_bytes(signature)}"


def _b64_bytes(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_HEADER = {"alg": "Ed25519", "kid": "current", "typ": "at+jwt"}


def _tampered_payload() -> str:
    header, _payload, signature = _token(_claims()).split(".")
    return f"{header}.{_b64(_claims(sub='p_someone_else'))}.{signature}"


def _tampered_signature() -> str:
    header, payload, signature = _token(_claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    return f"{header}.{payload}.{_b64_bytes(bytes(raw))}"


def _non_canonical_signature() -> str:
    """The same signature bytes, but a last base64 character whose unused bits are set."""
    header, payload, signature = _token(_claims()).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return f"{header}.{payload}.{signature[:-1]}{alphabet[last | 1]}"


def _padded_signature() -> str:
    return _token(_claims()) + "=="


def _standard_base64_signature() -> str:
    header, payload, signature = _token(_claims()).split(".")
    return f"{header}.{payload}.{signature.replace('-', '+').replace('_', '/')}" + "+"


def _json_list_payload() -> str:
    return _sign_raw(_HEADER, json.dumps([_claims()]).encode())


def _not_json_payload() -> str:
    return _sign_raw(_HEADER, b"not json")


def _crit_header() -> str:
    return _sign_raw({**_HEADER, "crit": ["exp"]}, json.dumps(_claims()).encode())


def _unencoded_payload_header() -> str:
    return _sign_raw({**_HEADER, "b64": False, "crit": ["b64"]}, json.dumps(_claims()).encode())


FORGED = {
    "signed by another key with the same kid": lambda: _token(_claims(), key=OTHER_KEY),
    "payload changed after signing": _tampered_payload,
    "signature changed": _tampered_signature,
    "signature with non-canonical base64url": _non_canonical_signature,
    "signature with padding": _padded_signature,
    "signature in standard base64": _standard_base64_signature,
    "signed payload that is a JSON list": _json_list_payload,
    "signed payload that is not JSON": _not_json_payload,
    "crit header": _crit_header,
    "unencoded payload (b64 false)": _unencoded_payload_header,
}


def _fast_path(token: str, keys: KeySet | None = None) -> dict[str, Any] | None:
    from joserfc import jws

    compact = jws.extract_compact(token.encode("ascii"))
    kid = compact.protected.get("kid")
    assert isinstance(kid, str)
    return _verifier()._fast_verified_payload(compact, keys or KeySet([SIGNING_KEY]), kid)


@pytest.mark.anyio
@pytest.mark.parametrize("make", FORGED.values(), ids=FORGED.keys())
async def test_the_fast_path_accepts_nothing_joserfc_refuses(make: Any) -> None:
    token = make()
    with pytest.raises(TokenError):
        await _verifier().verify(token)
    try:
        fast = _fast_path(token)
    except (JoseError, ValueError):  # joserfc's parse refused it before the fast path
        fast = None
    assert fast is None


def test_the_fast_path_gives_exactly_joserfcs_claims() -> None:
    token = _token(_claims(service="sentrum-skole"))
    expected = jwt.decode(token, KeySet([SIGNING_KEY]), algorithms=["Ed25519"]).claims
    assert _fast_path(token) == expected


@pytest.mark.anyio
async def test_tokens_as_auth_writes_them_take_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("jwt.decode should not be needed")

    monkeypatch.setattr("shared.tokens.jwt.decode", refuse)
    assert (await _verifier().verify(_token(_claims()))).sub == "p_subject"


@pytest.mark.anyio
async def test_a_header_with_other_members_is_judged_by_joserfc() -> None:
    """joserfc accepts a registered header such as `cty`; the fast path leaves it to joserfc."""
    token = _sign_raw({**_HEADER, "cty": "JWT"}, json.dumps(_claims()).encode())
    assert _fast_path(token) is None
    assert (await _verifier().verify(token)).sub == "p_subject"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "published",
    [
        {"use": "enc"},
        {"alg": "EdDSA"},
        {"key_ops": ["sign"]},
    ],
    ids=["use enc", "another alg", "key_ops without verify"],
)
async def test_a_key_auth_did_not_publish_for_token_signing_is_not_used(
    published: dict[str, Any],
) -> None:
    public = SIGNING_KEY.as_dict(private=False)
    key = OKPKey.import_key({**public, **published})
    keys = KeySet([key])
    token = _token(_claims())
    with pytest.raises(TokenError):
        await _verifier(keys).verify(token)
    assert _fast_path(token, keys) is None


@pytest.mark.anyio
async def test_a_key_of_another_curve_under_the_kid_is_not_used() -> None:
    keys = KeySet([OKPKey.generate_key("Ed448", parameters={"kid": "current"})])
    token = _token(_claims())
    with pytest.raises(TokenError):
        await _verifier(keys).verify(token)
    assert _fast_path(token, keys) is None


@pytest.mark.anyio
async def test_hmac_signed_with_the_public_key_as_secret_is_refused() -> None:
    """The classic algorithm confusion: HS256 keyed with the bytes of auth's public key."""
    import hashlib
    import hmac

    header = _b64({"alg": "HS256", "kid": "current", "typ": "at+jwt"})
    signing_input = f"{header}.{_b64(_claims())}"
    secret = json.dumps(SIGNING_KEY.as_dict(private=False)).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="Ed25519"):
        await _verifier().verify(f"{signing_input}.{_b64_bytes(mac)}")
