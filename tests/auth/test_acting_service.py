"""A staff member who works for several service units chooses which one they act for:
`POST /session/service`, the session context's `services`, and the tokens that follow."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth import models
from services.auth.app import create_app
from services.auth.custody import LocalKek
from services.auth.directory import DirectoryService
from services.auth.settings import Settings
from shared.crypto.keys import ParticipantKeys
from shared.db import create_engine
from shared.settings import Mode, load_or_create_secret
from tests.auth.conftest import KARI, SIRI
from tests.auth.helpers import AUTH_URL, RewritingTransport, log_in, portal_form
from tests.auth.redis_fixtures import RedisTarget, redis_target

__all__ = ["redis_target"]  # the fixture, imported for pytest

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
OLA = "05878220074"  # a synthetic person the test IdP can log in; made staff of two units here
HEALTH, SCHOOL = "helsestasjon-sentrum", "sentrum-skole"


def _in_directory(settings: Settings, work: Callable[[DirectoryService], Awaitable[None]]) -> None:
    """Change auth's directory directly, with the app's own KEK and pid key."""

    async def run() -> None:
        engine = create_engine(settings.database_url)
        directory = DirectoryService(
            async_sessionmaker(engine, expire_on_commit=False),
            LocalKek(load_or_create_secret(settings.kek_file, mode=Mode.LOCAL)),
            load_or_create_secret(settings.pid_hmac_key_file, mode=Mode.LOCAL),
        )
        try:
            await work(directory)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _deactivate_unit(settings: Settings, service_id: str) -> None:
    async def run() -> None:
        engine = create_engine(settings.database_url)
        async with async_sessionmaker(engine)() as db:
            await db.execute(
                update(models.ServiceUnitRow)
                .where(models.ServiceUnitRow.id == service_id)
                .values(deactivated_at=1)
            )
            await db.commit()
        await engine.dispose()

    asyncio.run(run())


def _cookie(client: TestClient[Litestar], kind: str, pid: str) -> str:
    client.cookies.delete("stafett_session")
    response = log_in(client, kind, pid, acr="idporten-loa-high")
    assert response.status_code == 303, response.text
    cookie: str = client.cookies["stafett_session"]
    client.cookies.delete("stafett_session")
    return cookie


@pytest.fixture
def ola_cookie(client: TestClient[Litestar], settings: Settings) -> str:
    """Ola Nordmann, staff of Helsestasjonen i Sentrum and of Sentrum skole, logged in."""

    async def register(directory: DirectoryService) -> None:
        await directory.ensure_staff_member(OLA, "Ola Nordmann", [HEALTH, SCHOOL])

    _in_directory(settings, register)
    return _cookie(client, "staff", OLA)


def _context(client: TestClient[Litestar], key: OKPKey, cookie: str) -> dict[str, Any]:
    response = client.post("/session", data=portal_form(key, cookie))
    assert response.status_code == 200, response.text
    context: dict[str, Any] = response.json()
    return context


def _switch(client: TestClient[Litestar], key: OKPKey, cookie: str, service_id: str) -> Any:
    return client.post("/session/service", data=portal_form(key, cookie, service_id=service_id))


def _token_claims(client: TestClient[Litestar], key: OKPKey, cookie: str) -> dict[str, Any]:
    form = portal_form(key, cookie, grant_type=EXCHANGE, audience="stafett-logg")
    response = client.post("/token", data=form)
    assert response.status_code == 200, response.text
    payload = response.json()["access_token"].split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _unit_public_keys(client: TestClient[Litestar], key: OKPKey, cookie: str, unit: str) -> bytes:
    form = portal_form(key, cookie, grant_type=EXCHANGE, audience="stafett-auth")
    token = client.post("/token", data=form).json()["access_token"]
    response = client.get(
        f"/directory/principals/service/{unit}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["sign_public"])


def _service_sign_public(context: dict[str, Any]) -> bytes:
    keys = ParticipantKeys.from_bytes(base64.b64decode(context["service_keys"]))
    return keys.public().sign_public


def test_staff_of_several_units_start_acting_for_none_and_see_their_choices(
    client: TestClient[Litestar], portal_key: OKPKey, ola_cookie: str
) -> None:
    context = _context(client, portal_key, ola_cookie)
    assert context["service"] is None
    assert context["service_keys"] is None
    assert context["services"] == [
        {"id": HEALTH, "name": "Helsestasjonen i Sentrum"},
        {"id": SCHOOL, "name": "Sentrum skole"},
    ]
    assert _token_claims(client, portal_key, ola_cookie).get("service") is None


def test_staff_of_one_unit_act_for_it_and_guardians_have_no_choices(
    client: TestClient[Litestar], portal_key: OKPKey
) -> None:
    staff = _context(client, portal_key, _cookie(client, "staff", SIRI))
    assert staff["service"] == {"id": HEALTH, "name": "Helsestasjonen i Sentrum"}
    assert staff["services"] == [staff["service"]]
    assert _context(client, portal_key, _cookie(client, "guardian", KARI))["services"] == []


def test_member_switches_and_the_next_token_and_keys_are_the_new_units(
    client: TestClient[Litestar], portal_key: OKPKey, ola_cookie: str
) -> None:
    school_public = _unit_public_keys(client, portal_key, ola_cookie, SCHOOL)
    health_public = _unit_public_keys(client, portal_key, ola_cookie, HEALTH)

    response = _switch(client, portal_key, ola_cookie, SCHOOL)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    switched = response.json()
    assert switched["service"] == {"id": SCHOOL, "name": "Sentrum skole"}
    assert _service_sign_public(switched) == school_public
    assert _token_claims(client, portal_key, ola_cookie)["service"] == SCHOOL

    again = _switch(client, portal_key, ola_cookie, HEALTH)
    assert again.status_code == 200, again.text
    context = _context(client, portal_key, ola_cookie)  # what the session holds now
    assert context["service"]["id"] == HEALTH
    assert _service_sign_public(context) == health_public
    assert _service_sign_public(context) != school_public  # the old unit's keys are gone
    assert context["keys"] == switched["keys"]  # the person's own keys are untouched
    assert _token_claims(client, portal_key, ola_cookie)["service"] == HEALTH


def test_switching_to_a_unit_one_does_not_work_for_is_refused_and_changes_nothing(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    before = _context(client, portal_key, staff_cookie)
    response = _switch(client, portal_key, staff_cookie, SCHOOL)
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    after = _context(client, portal_key, staff_cookie)
    assert after["service"] == before["service"]
    assert after["service_keys"] == before["service_keys"]
    assert _token_claims(client, portal_key, staff_cookie)["service"] == HEALTH


def test_guardians_cannot_act_for_a_service(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    assert _switch(client, portal_key, guardian_cookie, HEALTH).status_code == 403
    assert _context(client, portal_key, guardian_cookie)["service"] is None


def test_a_deactivated_unit_is_neither_offered_nor_accepted(
    client: TestClient[Litestar], portal_key: OKPKey, settings: Settings, ola_cookie: str
) -> None:
    _deactivate_unit(settings, SCHOOL)
    assert [s["id"] for s in _context(client, portal_key, ola_cookie)["services"]] == [HEALTH]
    response = _switch(client, portal_key, ola_cookie, SCHOOL)
    assert response.status_code == 403
    assert _context(client, portal_key, ola_cookie)["service"] is None


def test_staff_whose_other_units_are_deactivated_act_for_the_one_left_at_login(
    client: TestClient[Litestar], portal_key: OKPKey, settings: Settings, ola_cookie: str
) -> None:
    _deactivate_unit(settings, SCHOOL)
    cookie = _cookie(client, "staff", OLA)
    assert _context(client, portal_key, cookie)["service"]["id"] == HEALTH


@pytest.mark.parametrize(
    ("service_id", "status", "error"),
    [
        ("", 400, "invalid_request"),
        ("../admin", 400, "invalid_request"),
        ("x" * 65, 400, "invalid_request"),
        ("finnes-ikke", 403, "access_denied"),
    ],
)
def test_a_malformed_or_unknown_service_id_is_refused(
    client: TestClient[Litestar],
    portal_key: OKPKey,
    ola_cookie: str,
    service_id: str,
    status: int,
    error: str,
) -> None:
    response = _switch(client, portal_key, ola_cookie, service_id)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_switching_needs_the_portals_client_authentication_and_a_live_session(
    client: TestClient[Litestar], portal_key: OKPKey, ola_cookie: str
) -> None:
    form = portal_form(portal_key, ola_cookie, service_id=SCHOOL)
    form["client_assertion"] = "not.a.jwt"
    assert client.post("/session/service", data=form).status_code == 401
    session_id = ola_cookie.split(".")[0]
    forged = _switch(client, portal_key, f"{session_id}.{'A' * 43}", SCHOOL)
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_grant"
    assert _context(client, portal_key, ola_cookie)["service"] is None


def test_a_deactivation_racing_the_switch_ends_the_session(
    app: Litestar, client: TestClient[Litestar], portal_key: OKPKey, ola_cookie: str
) -> None:
    provider = app.dependencies["directory"]
    assert isinstance(provider, Provide)
    directory: DirectoryService = provider.dependency()
    checks = 0
    real = directory.unit_to_act_for

    async def deactivated_after_the_first_check(subject: str, service_id: str) -> Any:
        nonlocal checks
        checks += 1
        return await real(subject, service_id) if checks == 1 else None

    directory.unit_to_act_for = deactivated_after_the_first_check  # type: ignore[method-assign]
    response = _switch(client, portal_key, ola_cookie, SCHOOL)
    assert checks == 2
    assert response.status_code == 403
    assert client.post("/session", data=portal_form(portal_key, ola_cookie)).status_code == 401


def test_switching_works_with_sessions_in_redis(
    environ: dict[str, str], redis_target: RedisTarget, portal_key: OKPKey
) -> None:
    settings = Settings.from_env(
        {
            **environ,
            "STAFETT_SESSION_REDIS_URL": redis_target.url,
            "STAFETT_REDIS_KEY_PREFIX": redis_target.prefix,
        }
    )
    transport = RewritingTransport()
    app = create_app(settings, http_transport=transport)
    transport.attach(app)
    with TestClient(app, base_url=AUTH_URL) as client:
        client.follow_redirects = False

        async def register(directory: DirectoryService) -> None:
            await directory.ensure_staff_member(OLA, "Ola Nordmann", [HEALTH, SCHOOL])

        _in_directory(settings, register)
        cookie = _cookie(client, "staff", OLA)
        assert _switch(client, portal_key, cookie, SCHOOL).status_code == 200
        assert _token_claims(client, portal_key, cookie)["service"] == SCHOOL
        assert _switch(client, portal_key, cookie, HEALTH).status_code == 200
        assert _context(client, portal_key, cookie)["service"]["id"] == HEALTH
        assert (
            _switch(client, portal_key, _cookie(client, "staff", SIRI), SCHOOL).status_code == 403
        )
        assert _context(client, portal_key, _cookie(client, "guardian", KARI))["services"] == []
