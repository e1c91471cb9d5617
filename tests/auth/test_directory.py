"""The directory: service units, looking a guardian up by fødselsnummer, principals' public keys."""

from __future__ import annotations

import asyncio

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from services.auth.app import create_app
from services.auth.directory import UNKNOWN_GUARDIAN_NAME, is_valid_fodselsnummer
from services.auth.models import PersonRow
from services.auth.settings import Settings
from shared.db import create_engine
from tests.auth.conftest import KARI
from tests.auth.helpers import log_in, portal_form

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
NEW_GUARDIAN = "01818500005"  # synthetic, valid check digits, not a test person


def _bearer(client: TestClient[Litestar], key: OKPKey, cookie: str) -> dict[str, str]:
    form = portal_form(key, cookie, grant_type=EXCHANGE, audience="stafett-auth")
    token = client.post("/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "pid", ["12838510068", "05878220074", "23907930017", "17088840089", "30918420041"]
)
def test_synthetic_test_persons_have_valid_fodselsnummer(pid: str) -> None:
    assert is_valid_fodselsnummer(pid)


@pytest.mark.parametrize("pid", ["12838510069", "1283851006", "128385100680", "1283851006a", ""])
def test_invalid_fodselsnummer_is_recognised(pid: str) -> None:
    assert not is_valid_fodselsnummer(pid)


def test_services_lists_the_seeded_units_with_public_keys(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = client.get(
        "/directory/services", headers=_bearer(client, portal_key, guardian_cookie)
    )
    assert response.status_code == 200
    units = {unit["id"]: unit for unit in response.json()}
    assert units["sentrum-skole"]["name"] == "Sentrum skole"
    assert units["helsestasjon-sentrum"]["name"] == "Helsestasjonen i Sentrum"
    assert set(units["sentrum-skole"]) == {"id", "name", "hpke_public", "sign_public"}


def test_directory_requires_a_bearer_token(client: TestClient[Litestar]) -> None:
    response = client.get("/directory/services")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_directory_refuses_a_token_for_logg(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    form = portal_form(portal_key, guardian_cookie, grant_type=EXCHANGE, audience="stafett-logg")
    token = client.post("/token", data=form).json()["access_token"]
    response = client.get("/directory/services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("pid", ["12838510069", "123", "abcdefghijk", "0" * 30])
def test_lookup_refuses_an_invalid_fodselsnummer(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str, pid: str
) -> None:
    response = client.post(
        "/directory/persons/lookup",
        json={"pid": pid},
        headers=_bearer(client, portal_key, staff_cookie),
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert pid not in response.text


def test_lookup_refuses_unknown_fields(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    response = client.post(
        "/directory/persons/lookup",
        json={"pid": NEW_GUARDIAN, "name": "x"},
        headers=_bearer(client, portal_key, staff_cookie),
    )
    assert response.status_code == 400


def test_lookup_is_for_staff_only(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = client.post(
        "/directory/persons/lookup",
        json={"pid": NEW_GUARDIAN},
        headers=_bearer(client, portal_key, guardian_cookie),
    )
    assert response.status_code == 403


def test_lookup_creates_an_unknown_guardian_once(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    first = client.post(
        "/directory/persons/lookup",
        json={"pid": NEW_GUARDIAN},
        headers=_bearer(client, portal_key, staff_cookie),
    )
    second = client.post(
        "/directory/persons/lookup",
        json={"pid": NEW_GUARDIAN},
        headers=_bearer(client, portal_key, staff_cookie),
    )
    assert first.status_code == 200
    assert first.json()["name"] == UNKNOWN_GUARDIAN_NAME
    assert first.json()["subject"] == second.json()["subject"]
    assert first.json()["subject"].startswith("p_")


def test_looked_up_guardian_keeps_subject_and_gets_name_at_login(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    looked_up = client.post(
        "/directory/persons/lookup",
        json={"pid": KARI},
        headers=_bearer(client, portal_key, staff_cookie),
    ).json()
    assert looked_up["name"] == UNKNOWN_GUARDIAN_NAME
    log_in(client, "guardian", KARI)
    kari_cookie = client.cookies["stafett_session"]
    context = client.post("/session", data=portal_form(portal_key, kari_cookie)).json()
    assert context["subject"] == looked_up["subject"]
    assert context["name"] == "Kari Nordmann"


def test_principal_returns_public_keys_of_person_and_service(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    subject = client.post("/session", data=portal_form(portal_key, guardian_cookie)).json()[
        "subject"
    ]
    person = client.get(
        f"/directory/principals/person/{subject}",
        headers=_bearer(client, portal_key, guardian_cookie),
    )
    service = client.get(
        "/directory/principals/service/sentrum-skole",
        headers=_bearer(client, portal_key, guardian_cookie),
    )
    assert person.status_code == 200
    assert person.json()["kind"] == "person"
    assert person.json()["name"] == "Kari Nordmann"
    assert service.json()["name"] == "Sentrum skole"


@pytest.mark.parametrize(
    "path", ["/directory/principals/person/p_nobody", "/directory/principals/robot/x"]
)
def test_unknown_principal_is_not_found_or_invalid(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, path: str
) -> None:
    response = client.get(path, headers=_bearer(client, portal_key, guardian_cookie))
    assert response.status_code in {400, 404}
    assert response.headers["content-type"].startswith("application/problem+json")


def test_fodselsnummer_is_never_stored_in_plain(
    client: TestClient[Litestar], guardian_cookie: str, settings: Settings
) -> None:
    async def stored_pid_columns() -> list[str]:
        engine = create_engine(settings.database_url)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(PersonRow.pid_hmac))).scalars().all()
        await engine.dispose()
        return list(rows)

    values = asyncio.run(stored_pid_columns())
    assert len(values) >= 4  # Kari and the three seeded staff members
    assert KARI not in values
    assert all(len(value) == 64 for value in values)


def test_starting_twice_seeds_the_directory_once(settings: Settings) -> None:
    for _ in range(2):
        with TestClient(create_app(settings)) as started:
            assert started.get("/healthz").status_code == 200

    async def staff_count() -> int:
        engine = create_engine(settings.database_url)
        async with engine.connect() as connection:
            rows = await connection.execute(select(PersonRow).where(PersonRow.kind == "staff"))
            count = len(rows.all())
        await engine.dispose()
        return count

    assert asyncio.run(staff_count()) == 3  # Siri, Lars and Anne Admin
