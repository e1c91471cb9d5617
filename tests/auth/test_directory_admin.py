"""The administrators' directory API: who may use it, what it accepts, CSV import all-or-nothing,
deactivation, staff in several service units, and the audit trail."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from tests.auth.conftest import KARI, SIRI
from tests.auth.helpers import log_in, portal_form

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ANNE = "30918420041"  # Anne Admin, the synthetic municipal administrator
OLA = "05878220074"  # a synthetic guardian the test IdP can log in; made staff in some tests
LARS = "17088840089"
NEW_STAFF = "01818500005"  # synthetic, valid check digits, not a test IdP person
BAD_PID = "01818500006"  # one check digit wrong


def _login_cookie(client: TestClient[Litestar], kind: str, pid: str) -> str:
    client.cookies.delete("stafett_session")  # a login would otherwise end the earlier session
    response = log_in(client, kind, pid, acr="idporten-loa-high")
    assert response.status_code == 303, response.text
    cookie: str = client.cookies["stafett_session"]
    client.cookies.delete("stafett_session")
    return cookie


def _token(client: TestClient[Litestar], key: OKPKey, cookie: str) -> str:
    form = portal_form(key, cookie, grant_type=EXCHANGE, audience="stafett-auth")
    response = client.post("/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class Admin:
    """Calls the admin API as one logged-in person, with a fresh token each time."""

    def __init__(self, client: TestClient[Litestar], key: OKPKey, cookie: str) -> None:
        self.client, self.key, self.cookie = client, key, cookie

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {_token(self.client, self.key, self.cookie)}"}
        headers.update(kwargs.pop("headers", {}))
        response: httpx.Response = self.client.request(method, path, headers=headers, **kwargs)
        return response

    def import_csv(self, text: str, *, content_type: str = "text/csv") -> httpx.Response:
        return self(
            "POST",
            "/admin/staff/import",
            content=text.encode(),
            headers={"Content-Type": content_type},
        )


@pytest.fixture
def admin_cookie(client: TestClient[Litestar]) -> str:
    return _login_cookie(client, "staff", ANNE)


@pytest.fixture
def admin(client: TestClient[Litestar], portal_key: OKPKey, admin_cookie: str) -> Admin:
    return Admin(client, portal_key, admin_cookie)


def _staff_by_name(admin: Admin) -> dict[str, dict[str, Any]]:
    response = admin("GET", "/admin/staff")
    assert response.status_code == 200, response.text
    return {member["name"]: member for member in response.json()}


def _is_problem(response: httpx.Response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith(
        "application/problem+json"
    )


# -- who may ---------------------------------------------------------------------------------


def test_administrators_token_and_session_say_admin_and_other_staff_do_not(
    client: TestClient[Litestar], portal_key: OKPKey, admin_cookie: str, staff_cookie: str
) -> None:
    assert _claims(_token(client, portal_key, admin_cookie))["admin"] is True
    assert _claims(_token(client, portal_key, staff_cookie)).get("admin", False) is False
    context = client.post("/session", data=portal_form(portal_key, admin_cookie)).json()
    assert context["admin"] is True
    assert context["service"] is None  # Anne Admin works for no service unit
    siri = client.post("/session", data=portal_form(portal_key, staff_cookie)).json()
    assert siri["admin"] is False


@pytest.mark.parametrize(("method", "path"), [("GET", "/admin/staff"), ("GET", "/admin/services")])
def test_staff_who_are_not_administrators_are_refused_with_403(
    client: TestClient[Litestar], portal_key: OKPKey, staff_cookie: str, method: str, path: str
) -> None:
    response = Admin(client, portal_key, staff_cookie)(method, path)
    assert _is_problem(response, 403)


def test_guardians_are_refused_with_403(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    response = Admin(client, portal_key, guardian_cookie)(
        "POST", "/admin/services", json={"id": "ny-tjeneste", "name": "Ny"}
    )
    assert _is_problem(response, 403)


def test_admin_api_requires_a_bearer_token(client: TestClient[Litestar]) -> None:
    assert _is_problem(client.get("/admin/staff"), 401)


def test_revoking_the_admin_flag_refuses_the_next_request(
    client: TestClient[Litestar], portal_key: OKPKey, admin: Admin
) -> None:
    added = admin(
        "POST",
        "/admin/staff",
        json={"pid": OLA, "name": "Ola Nordmann", "service_ids": ["sentrum-skole"], "admin": True},
    )
    assert added.status_code == 201, added.text
    ola = Admin(client, portal_key, _login_cookie(client, "staff", OLA))
    assert ola("GET", "/admin/staff").status_code == 200
    revoked = admin(
        "PATCH",
        f"/admin/staff/{added.json()['subject']}",
        json={"admin": False},
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["admin"] is False
    refused = ola("GET", "/admin/staff")  # same session, fresh token: the directory decides
    assert _is_problem(refused, 403)


# -- service units ---------------------------------------------------------------------------


def test_administrator_adds_a_service_unit_that_gets_keys_and_can_be_found(
    client: TestClient[Litestar], portal_key: OKPKey, admin: Admin, guardian_cookie: str
) -> None:
    response = admin("POST", "/admin/services", json={"id": "nordby-ppt", "name": "PPT Nordby"})
    assert response.status_code == 201, response.text
    assert response.json() == {
        "id": "nordby-ppt",
        "name": "PPT Nordby",
        "active": True,
        "staff_count": 0,
    }
    listed = Admin(client, portal_key, guardian_cookie)("GET", "/directory/services").json()
    unit = next(u for u in listed if u["id"] == "nordby-ppt")
    assert len(base64.b64decode(unit["sign_public"])) == 32
    assert unit["hpke_public"]
    again = admin("POST", "/admin/services", json={"id": "nordby-ppt", "name": "Annen"})
    assert _is_problem(again, 409)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "Nordby-PPT", "name": "PPT"},
        {"id": "-ppt", "name": "PPT"},
        {"id": "ppt_nordby", "name": "PPT"},
        {"id": "", "name": "PPT"},
        {"id": "a" * 65, "name": "PPT"},
        {"id": "ppt", "name": ""},
        {"id": "ppt", "name": "x" * 121},
        {"id": "ppt", "name": "   "},
        {"id": "ppt", "name": "PPT", "extra": 1},
        {"id": "ppt"},
    ],
)
def test_service_unit_id_and_name_are_checked(admin: Admin, body: dict[str, Any]) -> None:
    assert _is_problem(admin("POST", "/admin/services", json=body), 400)


def test_renamed_and_deactivated_units_show_so_and_leave_the_public_list(
    client: TestClient[Litestar], portal_key: OKPKey, admin: Admin, guardian_cookie: str
) -> None:
    renamed = admin("PATCH", "/admin/services/sentrum-skole", json={"name": "Sentrum barneskole"})
    assert renamed.json()["name"] == "Sentrum barneskole"
    deactivated = admin("POST", "/admin/services/sentrum-skole/deactivate")
    assert deactivated.status_code == 200
    assert deactivated.json()["active"] is False
    public = Admin(client, portal_key, guardian_cookie)("GET", "/directory/services").json()
    assert "sentrum-skole" not in {unit["id"] for unit in public}
    assert _is_problem(admin("POST", "/admin/services/finnes-ikke/deactivate"), 404)


def test_staff_of_a_deactivated_unit_cannot_log_in(
    client: TestClient[Litestar], admin: Admin
) -> None:
    admin("POST", "/admin/services/sentrum-skole/deactivate")
    client.cookies.delete("stafett_session")
    assert log_in(client, "staff", LARS).status_code == 403


# -- staff -----------------------------------------------------------------------------------


def test_staff_list_shows_services_and_flags_but_never_a_fodselsnummer(admin: Admin) -> None:
    response = admin("GET", "/admin/staff")
    staff = {member["name"]: member for member in response.json()}
    assert staff["Siri Stafett"]["service_ids"] == ["helsestasjon-sentrum"]
    assert staff["Anne Admin"]["admin"] is True
    assert staff["Anne Admin"]["service_ids"] == []
    assert set(staff["Siri Stafett"]) == {
        "subject",
        "name",
        "service_ids",
        "admin",
        "active",
        "email",  # the notification address (tests/auth/test_notifications_staff.py)
    }
    assert SIRI not in response.text
    assert ANNE not in response.text


def test_staff_member_with_several_services_chooses_which_to_act_for(
    client: TestClient[Litestar], portal_key: OKPKey, admin: Admin
) -> None:
    added = admin(
        "POST",
        "/admin/staff",
        json={
            "pid": OLA,
            "name": "Ola Nordmann",
            "service_ids": ["sentrum-skole", "helsestasjon-sentrum"],
        },
    )
    assert added.status_code == 201, added.text
    assert set(added.json()["service_ids"]) == {"sentrum-skole", "helsestasjon-sentrum"}
    cookie = _login_cookie(client, "staff", OLA)
    context = client.post("/session", data=portal_form(portal_key, cookie)).json()
    assert context["role"] == "staff"
    assert context["service"] is None  # several units: none until chosen
    assert {s["id"] for s in context["services"]} == {"sentrum-skole", "helsestasjon-sentrum"}
    chosen = client.post(
        "/session/service", data=portal_form(portal_key, cookie, service_id="sentrum-skole")
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["service_keys"]
    assert _claims(_token(client, portal_key, cookie))["service"] == "sentrum-skole"


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        (
            {"pid": BAD_PID, "name": "Ny Ansatt", "service_ids": ["sentrum-skole"]},
            "invalid-fodselsnummer",
        ),
        (
            {"pid": NEW_STAFF, "name": "Ny Ansatt", "service_ids": ["finnes-ikke"]},
            "unknown-service",
        ),
        ({"pid": NEW_STAFF, "name": "Ny Ansatt", "service_ids": []}, "service-required"),
        ({"pid": NEW_STAFF, "name": "", "service_ids": ["sentrum-skole"]}, "invalid-request"),
    ],
)
def test_new_staff_member_is_checked_and_the_pid_never_echoed(
    admin: Admin, body: dict[str, Any], slug: str
) -> None:
    response = admin("POST", "/admin/staff", json=body)
    assert _is_problem(response, 400)
    assert response.json()["type"].endswith(slug)
    assert body["pid"] not in response.text


def test_registering_existing_staff_again_is_a_conflict(admin: Admin) -> None:
    response = admin(
        "POST", "/admin/staff", json={"pid": SIRI, "name": "Siri", "service_ids": ["sentrum-skole"]}
    )
    assert _is_problem(response, 409)


def test_deactivated_staff_member_loses_the_session_and_cannot_log_in(
    client: TestClient[Litestar], portal_key: OKPKey, admin: Admin, staff_cookie: str
) -> None:
    siri = _staff_by_name(admin)["Siri Stafett"]
    response = admin("POST", f"/admin/staff/{siri['subject']}/deactivate")
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert client.post("/session", data=portal_form(portal_key, staff_cookie)).status_code == 401
    client.cookies.delete("stafett_session")
    refused = log_in(client, "staff", SIRI)
    assert refused.status_code == 403
    assert "ikke registrert som ansatt" in refused.text
    reactivated = admin("PATCH", f"/admin/staff/{siri['subject']}", json={"active": True})
    assert reactivated.json()["active"] is True
    assert log_in(client, "staff", SIRI).status_code == 303


def test_administrator_cannot_deactivate_or_demote_themself(admin: Admin) -> None:
    anne = _staff_by_name(admin)["Anne Admin"]
    assert _is_problem(admin("POST", f"/admin/staff/{anne['subject']}/deactivate"), 409)
    assert _is_problem(
        admin("PATCH", f"/admin/staff/{anne['subject']}", json={"admin": False}), 409
    )


def test_unknown_staff_subject_is_not_found(admin: Admin) -> None:
    assert _is_problem(admin("POST", "/admin/staff/p_nobody/deactivate"), 404)
    assert admin("POST", "/admin/staff/not-a-subject!/deactivate").status_code in {400, 404}


def test_every_change_is_in_the_audit_trail_without_fodselsnummer(admin: Admin) -> None:
    admin("POST", "/admin/services", json={"id": "nordby-bup", "name": "BUP Nordby"})
    admin(
        "POST",
        "/admin/staff",
        json={"pid": NEW_STAFF, "name": "Nina Ny", "service_ids": ["nordby-bup"]},
    )
    anne = _staff_by_name(admin)["Anne Admin"]
    response = admin("GET", "/admin/audit")
    records = response.json()
    actions = [record["action"] for record in records]
    assert actions[:2] == ["staff.add", "service.add"]  # newest first
    assert all(record["actor"] == anne["subject"] for record in records)
    assert "Nina Ny" in records[0]["detail"]
    assert NEW_STAFF not in response.text


# -- CSV import ------------------------------------------------------------------------------


def test_csv_import_creates_updates_and_counts_and_is_idempotent(admin: Admin) -> None:
    text = (
        "\ufefffodselsnummer;navn;tjeneste;admin\n"
        f"{NEW_STAFF};Nina Ny;sentrum-skole;nei\n"
        f"{LARS};Lars Lærer;sentrum-skole|helsestasjon-sentrum;\n"
        f"{SIRI};Siri Stafett;helsestasjon-sentrum;nei\n"
    )
    response = admin.import_csv(text)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 1}
    staff = _staff_by_name(admin)
    assert staff["Nina Ny"]["service_ids"] == ["sentrum-skole"]
    assert set(staff["Lars Lærer"]["service_ids"]) == {"sentrum-skole", "helsestasjon-sentrum"}
    again = admin.import_csv(text)
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 3}


def test_csv_accepts_commas_service_names_and_one_line_per_service(admin: Admin) -> None:
    text = (
        "fodselsnummer,navn,tjeneste,admin\n"
        f"{NEW_STAFF},Nina Ny,Sentrum skole,ja\n"
        f"{NEW_STAFF},Nina Ny,helsestasjon-sentrum,\n"
    )
    response = admin.import_csv(text)
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}
    nina = _staff_by_name(admin)["Nina Ny"]
    assert set(nina["service_ids"]) == {"sentrum-skole", "helsestasjon-sentrum"}
    assert nina["admin"] is True


def test_csv_with_any_bad_line_imports_nothing_and_names_the_lines(admin: Admin) -> None:
    before = _staff_by_name(admin)
    text = (
        "fodselsnummer;navn;tjeneste;admin\n"
        f"{NEW_STAFF};Nina Ny;sentrum-skole;nei\n"
        f"{BAD_PID};Feil Nummer;sentrum-skole;nei\n"
        f"{LARS};Lars Lærer;finnes-ikke;nei\n"
        f"{SIRI};;helsestasjon-sentrum;nei\n"
        f"{KARI};Kari Nordmann;sentrum-skole;kanskje\n"
    )
    response = admin.import_csv(text)
    assert _is_problem(response, 400)
    errors = response.json()["errors"]
    assert [error["line"] for error in errors] == [3, 4, 5, 6]
    assert errors[0]["reason"] == "ugyldig fødselsnummer"
    assert "finnes-ikke" in errors[1]["reason"]
    for pid in (BAD_PID, NEW_STAFF, LARS, SIRI, KARI):
        assert pid not in response.text
    assert _staff_by_name(admin) == before


@pytest.mark.parametrize(
    "text",
    [
        "",
        "navn;fodselsnummer;tjeneste;admin\n",
        "fodselsnummer;navn;tjeneste;admin\n",
        "fodselsnummer;navn;tjeneste;admin\n01818500005;Nina;sentrum-skole\n",
    ],
)
def test_csv_without_a_proper_header_or_rows_is_refused(admin: Admin, text: str) -> None:
    assert _is_problem(admin.import_csv(text), 400)


def test_csv_must_be_sent_as_text_csv(admin: Admin) -> None:
    text = f"fodselsnummer;navn;tjeneste;admin\n{NEW_STAFF};Nina Ny;sentrum-skole;nei\n"
    assert _is_problem(admin.import_csv(text, content_type="application/json"), 415)


def test_csv_that_is_not_utf8_is_refused(admin: Admin) -> None:
    body = f"fodselsnummer;navn;tjeneste;admin\n{NEW_STAFF};Nils Ærlig;sentrum-skole;nei\n"
    response = admin(
        "POST",
        "/admin/staff/import",
        content=body.encode("latin-1"),
        headers={"Content-Type": "text/csv"},
    )
    assert _is_problem(response, 400)
    assert "UTF-8" in response.json()["errors"][0]["reason"]


def test_csv_with_too_many_lines_is_refused(admin: Admin) -> None:
    line = f"{NEW_STAFF};Nina Ny;sentrum-skole;nei\n"
    response = admin.import_csv("fodselsnummer;navn;tjeneste;admin\n" + line * 5001)
    assert _is_problem(response, 400)
    assert "5000" in response.json()["errors"][0]["reason"]


def test_csv_larger_than_the_limit_is_refused(admin: Admin) -> None:
    response = admin.import_csv("fodselsnummer;navn;tjeneste;admin\n" + "x" * (1024 * 1024 + 2048))
    assert response.status_code in {400, 413}


def test_csv_import_cannot_remove_the_importers_own_admin_role(admin: Admin) -> None:
    text = f"fodselsnummer;navn;tjeneste;admin\n{ANNE};Anne Admin;sentrum-skole;nei\n"
    response = admin.import_csv(text)
    assert _is_problem(response, 400)
    assert response.json()["errors"][0]["line"] == 2
    assert _staff_by_name(admin)["Anne Admin"]["admin"] is True
