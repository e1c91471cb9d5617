"""The staff directory keeps a staff member's notification address: set by the administrator
(API and CSV column `epost`), checked like a person's own, shown to administrators, changed or
removed, never written into the audit trail; the person sees it on «Varsler» and may change it."""

from __future__ import annotations

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from tests.auth.test_directory_admin import NEW_STAFF, Admin, _login_cookie, admin, admin_cookie

__all__ = ["admin", "admin_cookie"]  # the fixtures, used here by name

SIRI = "23907930017"


def _staff(admin: Admin) -> dict[str, dict[str, object]]:
    return {member["name"]: member for member in admin("GET", "/admin/staff").json()}


def test_administrator_sets_changes_and_removes_a_staff_address(
    admin: Admin, client: TestClient[Litestar], portal_key: OKPKey
) -> None:
    added = admin(
        "POST",
        "/admin/staff",
        json={
            "pid": NEW_STAFF,
            "name": "Ny Ansatt",
            "service_ids": ["sentrum-skole"],
            "email": "Ny.Ansatt@Skole.Example.NO",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json()["email"] == "Ny.Ansatt@skole.example.no"
    subject = added.json()["subject"]
    assert _staff(admin)["Ny Ansatt"]["email"] == "Ny.Ansatt@skole.example.no"
    changed = admin("PATCH", f"/admin/staff/{subject}", json={"email": "ny@skole.example.no"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "ny@skole.example.no"
    kept = admin("PATCH", f"/admin/staff/{subject}", json={"name": "Ny Ansatt"})
    assert kept.json()["email"] == "ny@skole.example.no"  # left out: not changed
    removed = admin("PATCH", f"/admin/staff/{subject}", json={"email": ""})
    assert removed.json()["email"] is None
    audit = admin("GET", "/admin/audit").text
    assert "email_changed" in audit
    assert "skole.example.no" not in audit


def test_the_staff_member_sees_the_address_the_administrator_set(
    admin: Admin, client: TestClient[Litestar], portal_key: OKPKey
) -> None:
    siri_subject = next(
        m["subject"] for m in admin("GET", "/admin/staff").json() if m["name"] == "Siri Stafett"
    )
    set_by_admin = admin(
        "PATCH", f"/admin/staff/{siri_subject}", json={"email": "siri@helse.example.no"}
    )
    assert set_by_admin.status_code == 200, set_by_admin.text
    siri = Admin(client, portal_key, _login_cookie(client, "staff", SIRI))
    assert siri("GET", "/notifications/preferences").json() == {
        "email": "siri@helse.example.no",
        "enabled": True,
        "language": "nb",
    }


@pytest.mark.parametrize("email", ["ikke-en-adresse", "ny@skole", "a@b.no\r\nBcc: c@d.no"])
def test_a_bad_staff_address_is_a_400_and_nothing_is_stored(admin: Admin, email: str) -> None:
    answer = admin(
        "POST",
        "/admin/staff",
        json={
            "pid": NEW_STAFF,
            "name": "Ny Ansatt",
            "service_ids": ["sentrum-skole"],
            "email": email,
        },
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"].endswith("invalid-email")
    assert "Ny Ansatt" not in _staff(admin)


def test_csv_import_takes_an_optional_epost_column(admin: Admin) -> None:
    imported = admin.import_csv(
        "fodselsnummer;navn;tjeneste;admin;epost\n"
        f"{NEW_STAFF};Ny Ansatt;sentrum-skole;nei;ny@skole.example.no\n"
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 1
    assert _staff(admin)["Ny Ansatt"]["email"] == "ny@skole.example.no"
    again = admin.import_csv(
        "fodselsnummer;navn;tjeneste;admin;epost\n"
        f"{NEW_STAFF};Ny Ansatt;sentrum-skole;nei;annen@skole.example.no\n"
    )
    assert again.json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert _staff(admin)["Ny Ansatt"]["email"] == "annen@skole.example.no"
    unchanged = admin.import_csv(
        f"fodselsnummer;navn;tjeneste;admin;epost\n{NEW_STAFF};Ny Ansatt;sentrum-skole;nei;\n"
    )
    assert unchanged.json()["unchanged"] == 1  # an empty cell leaves the address as it is
    assert _staff(admin)["Ny Ansatt"]["email"] == "annen@skole.example.no"


def test_csv_with_a_bad_address_is_refused_as_a_whole(admin: Admin) -> None:
    refused = admin.import_csv(
        "fodselsnummer;navn;tjeneste;admin;epost\n"
        f"{NEW_STAFF};Ny Ansatt;sentrum-skole;nei;ikke en adresse\n"
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"] == [{"line": 2, "reason": "e-postadressen er ikke gyldig"}]
    assert "Ny Ansatt" not in _staff(admin)
