"""ID-token validation, checked claim by claim."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from services.auth.oidc import LoginError, acr_satisfies, validate_id_token

ISSUER = "https://idporten.example"
CLIENT = "stafettlogg-idporten"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module")
def idp_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "pairwise-sub",
        "iat": now,
        "exp": now + 120,
        "nonce": NONCE,
        "acr": "idporten-loa-high",
        "pid": "12838510068",
        "sid": "sid-1",
        "name": "Kari Nordmann",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: RSAKey, claims: dict[str, Any], alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def _validate(token: str, key: RSAKey, required_acr: str = "idporten-loa-high") -> Any:
    public = KeySet([RSAKey.import_key(key.as_dict(private=False))])
    return validate_id_token(
        token, public, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, required_acr=required_acr
    )


def test_valid_id_token_is_accepted(idp_key: RSAKey) -> None:
    claims = _validate(_sign(idp_key, _claims()), idp_key)
    assert claims.pid == "12838510068"
    assert claims.display_name == "Kari Nordmann"


def test_id_token_signed_by_another_key_is_refused(idp_key: RSAKey) -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": str(idp_key.kid)})
    with pytest.raises(LoginError):
        _validate(_sign(other, _claims()), idp_key)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example"},
        {"aud": "another-client"},
        {"aud": [CLIENT, "another-client"]},  # several audiences and no azp
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"exp": int(time.time()) - 600},
        {"iat": int(time.time()) + 600},
        {"iat": int(time.time()) - 3600},
        {"pid": None},
        {"pid": "not-a-pid"},
        {"acr": None},
    ],
)
def test_id_token_with_wrong_claim_is_refused(idp_key: RSAKey, overrides: dict[str, Any]) -> None:
    claims = _claims(**{k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in overrides.items() if v is None]:
        del claims[key]
    with pytest.raises(LoginError):
        _validate(_sign(idp_key, claims), idp_key)


def test_unsigned_or_symmetric_id_token_is_refused(idp_key: RSAKey) -> None:
    header, payload, _ = _sign(idp_key, _claims()).split(".")
    with pytest.raises(LoginError):
        _validate(f"{header}.{payload}.", idp_key)
    with pytest.raises(LoginError):
        _validate("not a jwt", idp_key)


def test_acr_too_low_for_guardian_is_refused(idp_key: RSAKey) -> None:
    token = _sign(idp_key, _claims(acr="idporten-loa-substantial"))
    with pytest.raises(LoginError) as refused:
        _validate(token, idp_key, required_acr="idporten-loa-high")
    assert refused.value.reason == "acr"
    assert _validate(token, idp_key, required_acr="idporten-loa-substantial").acr == (
        "idporten-loa-substantial"
    )


def test_acr_levels_are_ordered_and_unknown_levels_never_satisfy() -> None:
    assert acr_satisfies("idporten-loa-high", "idporten-loa-substantial")
    assert not acr_satisfies("idporten-loa-substantial", "idporten-loa-high")
    assert not acr_satisfies("made-up-level", "idporten-loa-low")


def test_acr_levels_order_low_below_substantial_below_high() -> None:
    assert acr_satisfies("idporten-loa-substantial", "idporten-loa-low")
    assert not acr_satisfies("idporten-loa-low", "idporten-loa-substantial")
    assert acr_satisfies("idporten-loa-high", "idporten-loa-high")


def test_ansattporten_level_names_rank_with_id_portens() -> None:
    assert acr_satisfies("high", "idporten-loa-substantial")
    assert acr_satisfies("substantial", "substantial")
    assert not acr_satisfies("substantial", "idporten-loa-high")
    assert not acr_satisfies("entraid", "idporten-loa-low")


def test_azp_naming_another_client_is_refused_even_with_one_audience(idp_key: RSAKey) -> None:
    with pytest.raises(LoginError, match="azp"):
        _validate(_sign(idp_key, _claims(azp="another-client")), idp_key)
    several = _claims(aud=[CLIENT, "api"], azp=CLIENT)
    assert _validate(_sign(idp_key, several), idp_key).azp == CLIENT


def test_id_token_with_hmac_signature_is_refused(idp_key: RSAKey) -> None:
    secret = OctKey.import_key(b"k" * 32)
    token = jwt.encode({"alg": "HS256"}, _claims(), secret, algorithms=["HS256"])
    with pytest.raises(LoginError, match="algorithm"):
        _validate(token, idp_key)


def test_amr_as_a_list_or_a_string_is_accepted(idp_key: RSAKey) -> None:
    assert _validate(_sign(idp_key, _claims(amr=["BankID"])), idp_key).amr == ["BankID"]
    assert _validate(_sign(idp_key, _claims(amr="BankID")), idp_key).amr == "BankID"
