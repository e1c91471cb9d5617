"""The administrators' page for the municipality's settings: only administrators, the values the
law allows, and a form that keeps what was typed."""

from __future__ import annotations

import re

import pytest

from services.portal.municipal_settings import check_municipal_settings_form
from tests.portal.conftest import Portal
from tests.portal.fakes import Person

PAGE = "/admin/innstillinger"


@pytest.fixture
def admin(portal: Portal) -> Person:
    person = portal.auth.add_person(Person("p_anne", "Anne Admin", "staff", admin=True))
    portal.log_in(person)
    return person


def test_the_overview_links_to_the_page_and_the_page_shows_the_current_values(
    portal: Portal, admin: Person
) -> None:
    assert f'href="{PAGE}"' in portal.client.get("/admin").text
    page = portal.client.get(PAGE)
    assert page.status_code == 200
    checked = re.findall(r'name="youth_consent_age" value="(\d+)"\s+checked', page.text)
    assert checked == ["16"]
    assert re.search(r'name="retention_years"[^>]*value="10"', page.text)


def test_an_administrator_saves_new_values(portal: Portal, admin: Person) -> None:
    response = portal.post_form(
        PAGE, {"youth_consent_age": "15", "retention_years": "25"}, from_page=PAGE
    )
    assert response.status_code == 200, response.text
    assert "Innstillingene er lagret." in response.text
    assert portal.auth.municipal_settings == {"youth_consent_age": 15, "retention_years": 25}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"youth_consent_age": "14", "retention_years": "10"}, "youth_consent_age", "15 eller 16"),
        ({"youth_consent_age": "", "retention_years": "10"}, "youth_consent_age", "15 eller 16"),
        ({"youth_consent_age": "16", "retention_years": "0"}, "retention_years", "fra 1 til 100"),
        ({"youth_consent_age": "16", "retention_years": "ti"}, "retention_years", "fra 1 til 100"),
        ({"youth_consent_age": "16", "retention_years": "101"}, "retention_years", "fra 1 til 100"),
    ],
)
def test_bad_values_are_refused_with_the_form_kept(
    portal: Portal, admin: Person, values: dict[str, str], field: str, message: str
) -> None:
    response = portal.post_form(PAGE, values, from_page=PAGE)
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert f'value="{values["retention_years"]}"' in response.text
    assert portal.auth.municipal_settings == {"youth_consent_age": 16, "retention_years": 10}


def test_staff_who_are_not_administrators_get_a_403_page_and_change_nothing(
    portal: Portal,
) -> None:
    portal.log_in(portal.staff)
    assert portal.client.get(PAGE).status_code == 403
    response = portal.post_form(
        PAGE, {"youth_consent_age": "15", "retention_years": "5"}, from_page="/"
    )
    assert response.status_code == 403
    assert portal.auth.municipal_settings["youth_consent_age"] == 16


def test_the_form_needs_csrf(portal: Portal, admin: Person) -> None:
    response = portal.client.post(
        PAGE, data={"youth_consent_age": "15", "retention_years": "5"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert portal.auth.municipal_settings["youth_consent_age"] == 16


def test_the_check_accepts_the_bounds() -> None:
    assert check_municipal_settings_form({"youth_consent_age": "15", "retention_years": "1"}).ok
    assert check_municipal_settings_form({"youth_consent_age": "16", "retention_years": "100"}).ok
