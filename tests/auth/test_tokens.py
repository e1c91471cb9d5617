"""Service-token signing keys rotate with overlap: published ahead, signing, then retired."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from services.auth import models
from services.auth.custody import LocalKek
from services.auth.settings import Settings
from services.auth.signing_keys import (
    JWKS_MAX_AGE_SECONDS,
    PUBLISH_AHEAD_SECONDS,
    RETIRE_AFTER_SECONDS,
    SigningKeyRing,
)
from services.auth.tokens import ServiceTokenIssuer
from shared.db import create_engine
from shared.settings import Mode, load_or_create_secret
from shared.tokens import (
    MAX_TOKEN_LIFETIME,
    RemoteKeySet,
    ServiceTokenVerifier,
    TokenError,
)
from stafett.cli import main
from tests.auth.helpers import AUTH_URL

DAY = 24 * 3600
SIGN_KEY = bytes(32)


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@dataclass
class Auth:
    """One auth instance's token machinery over a shared database, on a fake clock."""

    ring: SigningKeyRing
    issuer: ServiceTokenIssuer

    async def token(self, audience: str = "stafett-logg") -> str:
        token, _ = await self.issuer.issue(
            subject="p_x",
            audience=audience,
            role="guardian",
            acr="idporten-loa-high",
            sign_public=SIGN_KEY,
            service=None,
        )
        return token

    def verifier(self, audience: str = "stafett-logg") -> ServiceTokenVerifier:
        return self.issuer.verifier(audience, replay_cache=None)

    async def kids(self) -> list[str]:
        return [str(key.kid) for key in (await self.ring.public_keys()).keys]


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _auth(settings: Settings, engine: AsyncEngine, clock: Clock) -> Auth:
    custody = LocalKek(load_or_create_secret(settings.kek_file, mode=Mode.LOCAL))
    ring = SigningKeyRing(
        async_sessionmaker(engine, expire_on_commit=False),
        custody,
        rotation_seconds=DAY,
        clock=clock,
    )
    return Auth(ring, ServiceTokenIssuer(ring, issuer=AUTH_URL, clock=clock))


def _header_kid(token: str) -> str:
    import base64
    import json

    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


@pytest.mark.anyio
async def test_the_first_key_signs_at_once_and_is_the_only_one_published(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    auth = _auth(settings, engine, clock)
    token = await auth.token()
    assert await auth.kids() == [_header_kid(token)]
    assert (await auth.verifier().verify(token)).sub == "p_x"


@pytest.mark.anyio
async def test_rotation_publishes_ahead_signs_then_retires_the_old_key(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    auth = _auth(settings, engine, clock)
    old_token = await auth.token()
    old_kid = _header_kid(old_token)
    old_private = await auth.ring.signing_key()

    # Almost a day later the rotation is due: the next key is published but does not sign yet.
    clock.now += DAY - PUBLISH_AHEAD_SECONDS
    assert _header_kid(await auth.token()) == old_kid
    published = await auth.kids()
    assert len(published) == 2
    assert old_kid in published
    new_kid = next(kid for kid in published if kid != old_kid)

    # Just before the switch the old key signs; from then on the new one, and the old key stays
    # published (the overlap) so that its last tokens are still accepted.
    clock.now += PUBLISH_AHEAD_SECONDS - 1
    last_old_token = await auth.token()
    assert _header_kid(last_old_token) == old_kid
    clock.now += 1
    overlap_token = await auth.token()
    assert _header_kid(overlap_token) == new_kid
    clock.now += MAX_TOKEN_LIFETIME - 10
    assert set(await auth.kids()) == {old_kid, new_kid}
    assert (await auth.verifier().verify(last_old_token)).sub == "p_x"

    # Once no token of the old key can still be accepted, it is retired and its row deleted.
    clock.now += RETIRE_AFTER_SECONDS - MAX_TOKEN_LIFETIME + 10
    assert await auth.kids() == [new_kid]
    async with engine.connect() as connection:
        kids = (await connection.scalars(select(models.SigningKeyRow.kid))).all()
    assert kids == [new_kid]  # the sealed private key is gone with the row
    now = int(clock.now)
    forged = jwt.encode(
        {"alg": "Ed25519", "kid": old_kid, "typ": "at+jwt"},
        {**_claims_of(overlap_token), "iat": now, "nbf": now, "exp": now + 60, "jti": "late"},
        old_private,
        algorithms=["Ed25519"],
    )
    with pytest.raises(TokenError):
        await auth.verifier().verify(forged)


def _claims_of(token: str) -> dict[str, object]:
    import base64
    import json

    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@pytest.mark.anyio
async def test_publish_ahead_outlasts_any_jwks_cache() -> None:
    assert PUBLISH_AHEAD_SECONDS > JWKS_MAX_AGE_SECONDS + 60
    assert RETIRE_AFTER_SECONDS > MAX_TOKEN_LIFETIME + 30


@pytest.mark.anyio
async def test_instances_rotating_at_once_add_exactly_one_key(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    first = _auth(settings, engine, clock)
    await first.token()
    other_engine = create_engine(settings.database_url)
    try:
        instances = [first, *(_auth(settings, other_engine, clock) for _ in range(3))]
        await asyncio.gather(*(auth.ring.refresh(force=True) for auth in instances[1:]))
        clock.now += DAY - PUBLISH_AHEAD_SECONDS
        await asyncio.gather(*(auth.ring.refresh(force=True) for auth in instances))
        async with engine.connect() as connection:
            generations = (await connection.scalars(select(models.SigningKeyRow.generation))).all()
        assert sorted(generations) == [1, 2]
        for auth in instances:
            assert len(await auth.kids()) == 2
    finally:
        await other_engine.dispose()


@pytest.mark.anyio
async def test_manual_rotation_publishes_a_key_once_while_one_is_pending(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    auth = _auth(settings, engine, clock)
    token = await auth.token()
    pending = await auth.ring.rotate()
    again = await auth.ring.rotate()
    assert again.kid == pending.kid
    assert pending.signs_from == int(clock.now) + PUBLISH_AHEAD_SECONDS
    await auth.ring.refresh(force=True)
    assert set(await auth.kids()) == {_header_kid(token), pending.kid}
    assert _header_kid(await auth.token()) == _header_kid(token)
    clock.now += PUBLISH_AHEAD_SECONDS
    assert _header_kid(await auth.token()) == pending.kid


@pytest.mark.anyio
async def test_a_verifier_with_a_remote_key_set_picks_up_the_new_key(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    auth = _auth(settings, engine, clock)
    fetched: list[int] = []

    async def serve_jwks(_request: httpx.Request) -> httpx.Response:
        keys = (await auth.ring.public_keys()).as_dict(private=False)
        fetched.append(len(keys["keys"]))
        return httpx.Response(200, json=keys)

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve_jwks)) as client:
        remote = RemoteKeySet(f"{AUTH_URL}/.well-known/jwks.json", client, clock=clock)
        logg = ServiceTokenVerifier(
            issuer=AUTH_URL,
            audience="stafett-logg",
            key_source=remote.key_set,
            replay_cache=None,
            clock=lambda: int(clock.now),
        )
        await logg.verify(await auth.token())
        clock.now += DAY  # past publish-ahead: the new key signs
        await auth.ring.refresh(force=True)
        clock.now += PUBLISH_AHEAD_SECONDS
        assert (await logg.verify(await auth.token())).sub == "p_x"
    assert fetched[0] == 1
    assert fetched[-1] == 2


@pytest.mark.anyio
async def test_issue_refuses_a_lifetime_over_five_minutes_and_several_audiences(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    auth = _auth(settings, engine, clock)
    with pytest.raises(ValueError, match="300"):
        ServiceTokenIssuer(auth.ring, issuer=AUTH_URL, lifetime=MAX_TOKEN_LIFETIME + 1)
    with pytest.raises(ValueError, match="stafett-logg or stafett-auth"):
        await auth.issuer.issue(
            subject="p_x",
            audience="stafett-logg stafett-auth",
            role="guardian",
            acr="x",
            sign_public=SIGN_KEY,
            service=None,
        )
    claims = _claims_of(await auth.token())
    assert claims["exp"] - claims["iat"] <= MAX_TOKEN_LIFETIME  # type: ignore[operator]
    assert claims["aud"] == "stafett-logg"
    assert claims["admin"] is False


@pytest.mark.anyio
async def test_admin_is_only_ever_true_for_staff(
    settings: Settings, engine: AsyncEngine, clock: Clock
) -> None:
    auth = _auth(settings, engine, clock)
    tokens = [
        await auth.issuer.issue(
            subject="p_x",
            audience="stafett-auth",
            role=role,
            acr="x",
            sign_public=SIGN_KEY,
            service=None,
            admin=True,
        )
        for role in ("staff", "guardian")
    ]
    assert [_claims_of(token)["admin"] for token, _ in tokens] == [True, False]


def test_jwks_publishes_public_keys_only(client: TestClient[Litestar]) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = KeySet.import_key_set(response.json())
    assert len(keys.keys) == 1
    assert all("d" not in key for key in response.json()["keys"])  # never a private part


def test_keys_rotate_command_publishes_a_new_key(
    settings: Settings,
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["keys", "rotate"]) == 0  # creates the first key: no keys yet
    assert main(["keys", "rotate"]) == 0  # a second generation, published ahead
    assert main(["keys", "rotate"]) == 0  # already pending: no third
    output = capsys.readouterr().out
    assert "generation 1" in output
    assert output.count("generation 2") == 2

    async def generations() -> list[int]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.scalars(select(models.SigningKeyRow.generation))
                return sorted(rows.all())
        finally:
            await engine.dispose()

    assert asyncio.run(generations()) == [1, 2]
