"""The administrators' pages: only for administrators, forms that keep what was typed, CSRF,
and the staff file upload with its per-line errors."""

from __future__ import annotations

import re

import pytest

from services.portal.admin import check_service_unit_form
from tests.portal.conftest import Portal
from tests.portal.fakes import Person


@pytest.fixture
def admin(portal: Portal) -> Person:
    person = portal.auth.add_person(Person("p_anne", "Anne Admin", "staff", admin=True))
    portal.log_in(person)
    return person


def _upload(
    portal: Portal, content: bytes, *, filename: str = "ansatte.csv", media_type: str = "text/csv"
) -> tuple[int, str]:
    token = portal.csrf_token("/admin/import")
    response = portal.client.post(
        "/admin/import",
        data={"_csrf_token": token},
        files={"file": (filename, content, media_type)},
        follow_redirects=False,
    )
    return response.status_code, response.text


def test_administrator_sees_the_link_and_the_overview(portal: Portal, admin: Person) -> None:
    front = portal.client.get("/")
    assert 'href="/admin"' in front.text
    overview = portal.client.get("/admin")
    assert overview.status_code == 200
    assert "<h1>Administrasjon</h1>" in overview.text
    assert 'href="/admin/ansatte"' in overview.text


@pytest.mark.parametrize("path", ["/admin", "/admin/tjenester", "/admin/ansatte", "/admin/import"])
def test_staff_who_are_not_administrators_get_a_403_page(portal: Portal, path: str) -> None:
    portal.log_in(portal.staff)
    response = portal.client.get(path)
    assert response.status_code == 403
    assert "Bare administratorer har tilgang her" in response.text
    assert 'href="/admin"' not in portal.client.get("/").text


def test_posting_as_a_non_administrator_changes_nothing(portal: Portal) -> None:
    portal.log_in(portal.staff)
    response = portal.post_form(
        "/admin/tjenester", {"service_id": "ny-tjeneste", "name": "Ny"}, from_page="/"
    )
    assert response.status_code == 403
    assert "ny-tjeneste" not in portal.auth.services


def test_not_logged_in_goes_to_the_front_page(portal: Portal) -> None:
    response = portal.client.get("/admin/ansatte", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_administrator_adds_a_service_unit(portal: Portal, admin: Person) -> None:
    response = portal.post_form(
        "/admin/tjenester",
        {"service_id": "nordby-ppt", "name": "PPT Nordby"},
        from_page="/admin/tjenester",
    )
    assert response.status_code == 303
    assert portal.auth.services["nordby-ppt"].name == "PPT Nordby"
    page = portal.client.get("/admin/tjenester")
    assert "PPT Nordby" in page.text


def test_invalid_service_unit_keeps_what_was_typed_with_norwegian_messages(
    portal: Portal, admin: Person
) -> None:
    response = portal.post_form(
        "/admin/tjenester",
        {"service_id": "Nordby PPT", "name": "x" * 121},
        from_page="/admin/tjenester",
    )
    assert response.status_code == 422
    assert 'value="Nordby PPT"' in response.text
    assert "Id-en kan bare ha små bokstaver" in response.text
    assert "Navnet kan være høyst 120 tegn." in response.text
    assert "Noe må rettes før du kan gå videre" in response.text
    assert 'aria-invalid="true"' in response.text


def test_an_existing_service_id_is_refused_on_the_field(portal: Portal, admin: Person) -> None:
    response = portal.post_form(
        "/admin/tjenester",
        {"service_id": "skole-1", "name": "Igjen"},
        from_page="/admin/tjenester",
        htmx=True,
    )
    assert response.status_code == 422
    assert "Det finnes allerede en tjeneste med denne id-en." in response.text
    assert "<html" not in response.text  # only the swapped block


def test_administrator_adds_a_staff_member_with_services(portal: Portal, admin: Person) -> None:
    response = portal.post_form(
        "/admin/ansatte",
        {"pid": "010185 00005", "name": "Nina Ny", "service_ids": "skole-1", "admin": "ja"},
        from_page="/admin/ansatte",
    )
    assert response.status_code == 303, response.text
    added = next(p for p in portal.auth.persons.values() if p.name == "Nina Ny")
    assert added.pid == "01018500005"
    assert added.admin is True
    assert added.service is not None
    assert added.service.id == "skole-1"
    page = portal.client.get("/admin/ansatte")
    assert "Nina Ny" in page.text
    assert "01018500005" not in page.text  # the list never shows a fødselsnummer


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"pid": "123", "name": "Nina", "service_ids": "skole-1"},
            "Et fødselsnummer har 11 siffer",
        ),
        ({"pid": "", "name": "Nina", "service_ids": "skole-1"}, "Skriv fødselsnummeret"),
        ({"pid": "01018500005", "name": "", "service_ids": "skole-1"}, "Skriv navnet"),
        ({"pid": "01018500005", "name": "Nina"}, "Velg minst én tjeneste"),
        ({"pid": "01018500005", "name": "Nina", "service_ids": "finnes-ikke"}, "Velg tjenester"),
        ({"pid": "01018500009", "name": "Nina", "service_ids": "skole-1"}, "ikke gyldig"),
        ({"pid": "01020312345", "name": "Gro", "service_ids": "skole-1"}, "allerede registrert"),
    ],
)
def test_invalid_staff_form_keeps_what_was_typed(
    portal: Portal, admin: Person, data: dict[str, str], message: str
) -> None:
    response = portal.post_form("/admin/ansatte", data, from_page="/admin/ansatte")
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{data["name"]}"' in response.text
    if data.get("service_ids") == "skole-1":
        assert re.search(r'value="skole-1" checked', response.text)


def test_administrator_deactivates_a_staff_member(portal: Portal, admin: Person) -> None:
    lars = portal.auth.add_person(Person("p_lars", "Lars Lærer", "staff", service=portal.school))
    page = portal.client.get("/admin/ansatte")
    assert f"/admin/ansatte/{lars.subject}/deaktiver" in page.text
    assert f"/admin/ansatte/{admin.subject}/deaktiver" not in page.text  # not oneself
    response = portal.post_form(
        f"/admin/ansatte/{lars.subject}/deaktiver", {}, from_page="/admin/ansatte"
    )
    assert response.status_code == 303
    assert lars.active is False
    assert "Deaktivert" in portal.client.get("/admin/ansatte").text


def test_forms_without_csrf_token_are_refused(portal: Portal, admin: Person) -> None:
    portal.client.get("/admin/tjenester")
    response = portal.client.post(
        "/admin/tjenester", data={"service_id": "uten-csrf", "name": "X"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "uten-csrf" not in portal.auth.services


def test_every_admin_form_carries_a_csrf_field(portal: Portal, admin: Person) -> None:
    for path in ("/admin/tjenester", "/admin/ansatte", "/admin/import"):
        page = portal.client.get(path).text
        assert page.count("<form") - 1 == page.count('name="_csrf_token"'), path  # minus logout


def test_staff_file_upload_shows_the_counts(portal: Portal, admin: Person) -> None:
    content = b"fodselsnummer;navn;tjeneste;admin\n01018500005;Nina Ny;skole-1;nei\n"
    status, text = _upload(portal, content)
    assert status == 200
    assert "Importen er fullført: 1 nye" in text
    assert portal.auth.imported == [content]


def test_staff_file_with_errors_lists_the_lines_and_imports_nothing(
    portal: Portal, admin: Person
) -> None:
    status, text = _upload(portal, b"fodselsnummer;navn;tjeneste;admin\nFEIL\n")
    assert status == 422
    assert "Ingen ansatte er importert" in text
    assert "<td>3</td><td>ugyldig fødselsnummer</td>" in text


@pytest.mark.parametrize(
    ("filename", "media_type", "content", "message"),
    [
        ("ansatte.xlsx", "application/vnd.openxmlformats", b"PK", "Filen må være en CSV-fil"),
        ("ansatte.csv", "image/png", b"x", "Filen må være en CSV-fil"),
        ("ansatte.csv", "text/csv", b"  \n", "Filen er tom."),
        ("ansatte.csv", "text/csv", b"x" * (1024 * 1024 + 1), "større enn 1 MiB"),
    ],
)
def test_staff_file_type_and_size_are_checked(
    portal: Portal, admin: Person, filename: str, media_type: str, content: bytes, message: str
) -> None:
    status, text = _upload(portal, content, filename=filename, media_type=media_type)
    assert status == 422
    assert message in text
    assert portal.auth.imported == []


def test_upload_without_a_file_asks_for_one(portal: Portal, admin: Person) -> None:
    token = portal.csrf_token("/admin/import")
    response = portal.client.post(
        "/admin/import",
        data={"_csrf_token": token},
        files={"other": ("x.txt", b"", "text/plain")},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "Velg en fil å laste opp." in response.text


def test_service_unit_form_accepts_a_good_slug() -> None:
    state = check_service_unit_form({"service_id": "nordby-skole-2", "name": "  Nordby   skole "})
    assert state.ok
    assert state.values["name"] == "Nordby skole"
