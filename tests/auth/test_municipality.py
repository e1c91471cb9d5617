"""The municipality's settings: anyone signed in reads them, only administrators change them,
within the law's bounds, and every change is in the administrators' audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from tests.auth.test_directory_admin import Admin, _is_problem, admin, admin_cookie

__all__ = ["admin", "admin_cookie"]  # fixtures shared with the directory tests

PATH = "/municipality/settings"


def test_defaults_until_an_administrator_changes_them(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = Admin(client, portal_key, guardian_cookie)("GET", PATH)
    assert response.status_code == 200, response.text
    assert response.json() == {"youth_consent_age": 16, "retention_years": 10, "updated_at": None}


def test_an_administrator_changes_them_and_the_change_is_audited(admin: Admin) -> None:
    response = admin("PUT", PATH, json={"youth_consent_age": 15, "retention_years": 25})
    assert response.status_code == 200, response.text
    assert admin("GET", PATH).json()["youth_consent_age"] == 15
    assert admin("GET", PATH).json()["retention_years"] == 25
    audit = admin("GET", "/admin/audit").json()
    changes = [record for record in audit if record["action"] == "municipality.settings"]
    assert len(changes) == 1
    assert '"youth_consent_age": 15' in changes[0]["detail"]


def test_staff_who_are_not_administrators_cannot_change_them(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str
) -> None:
    _refused(Admin(client, portal_key, staff_cookie))


def test_guardians_cannot_change_them(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    _refused(Admin(client, portal_key, guardian_cookie))


def _refused(caller: Admin) -> None:
    response = caller("PUT", PATH, json={"youth_consent_age": 15, "retention_years": 5})
    assert _is_problem(response, 403)
    assert caller("GET", PATH).json()["youth_consent_age"] == 16


def test_reading_needs_a_token(client: TestClient[Litestar]) -> None:
    assert client.get(PATH).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"youth_consent_age": 14, "retention_years": 10},
        {"youth_consent_age": 17, "retention_years": 10},
        {"youth_consent_age": 16, "retention_years": 0},
        {"youth_consent_age": 16, "retention_years": 101},
        {"youth_consent_age": 16},
        {"youth_consent_age": 16, "retention_years": 10, "extra": 1},
        {"youth_consent_age": "15", "retention_years": 10},  # a string, not a number
        {"youth_consent_age": 15.0, "retention_years": 10},  # a float, not an integer
    ],
)
def test_values_outside_the_law_or_malformed_are_refused_with_400(
    admin: Admin, body: dict[str, Any]
) -> None:
    response = admin("PUT", PATH, json=body)
    assert response.status_code == 400, response.text
    assert admin("GET", PATH).json()["youth_consent_age"] == 16


def test_a_body_not_declared_as_json_is_refused_with_415(admin: Admin) -> None:
    body = b'{"youth_consent_age": 15, "retention_years": 10}'
    response = admin("PUT", PATH, content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415, response.text
    assert admin("GET", PATH).json()["youth_consent_age"] == 16
