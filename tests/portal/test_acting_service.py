"""«Velg tjeneste»: a staff member of several service units chooses which one they act for."""

from __future__ import annotations

import re

import pytest

from tests.portal.conftest import Portal
from tests.portal.fakes import Person, ServiceUnit


@pytest.fixture
def ola(portal: Portal) -> Person:
    """Staff of two units, acting for none yet (as auth starts such a session)."""
    health = portal.auth.services.get("helsestasjon-1") or portal.auth.add_service(
        ServiceUnit("helsestasjon-1", "Nordby helsestasjon")
    )
    person = portal.auth.add_person(
        Person("staff-ola", "Ola Flertjeneste", "staff", services=[health, portal.school])
    )
    portal.log_in(person)
    return person


def _switch_calls(portal: Portal) -> int:
    return sum(1 for r in portal.auth.requests if r.url.path == "/session/service")


def test_staff_of_several_units_are_asked_to_choose_from_the_header(
    portal: Portal, ola: Person
) -> None:
    front = portal.client.get("/")
    assert "Du har ikke valgt tjeneste" in front.text
    assert '<a href="/tjeneste">Velg tjeneste</a>' in front.text
    assert "Velg hvilken tjeneste du handler for" in front.text  # the banner above the page


def test_the_page_lists_the_units_to_choose_from_with_a_csrf_field(
    portal: Portal, ola: Person
) -> None:
    page = portal.client.get("/tjeneste")
    assert page.status_code == 200
    assert "<h1>Velg tjeneste</h1>" in page.text
    assert 'value="helsestasjon-1"' in page.text
    assert 'value="skole-1"' in page.text
    assert "Nordby helsestasjon" in page.text
    assert "Nordby skole" in page.text
    assert 'name="_csrf_token"' in page.text
    assert 'method="post" action="/tjeneste"' in page.text
    assert "Velg hvilken tjeneste du handler for" not in page.text  # no banner on the page itself


def test_posting_a_choice_switches_and_the_header_shows_it(portal: Portal, ola: Person) -> None:
    response = portal.post_form("/tjeneste", {"service_id": "skole-1"}, from_page="/tjeneste")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert ola.service is portal.school  # auth was asked, and switched
    front = portal.client.get("/")
    assert "Du handler nå for: <strong>Nordby skole</strong>" in front.text
    assert 'href="/tjeneste">Bytt' in front.text
    page = portal.client.get("/tjeneste")
    assert re.search(r'value="skole-1"\s+checked', page.text)
    assert not re.search(r'value="helsestasjon-1"\s+checked', page.text)


def test_with_htmx_the_answer_is_a_redirect_header(portal: Portal, ola: Person) -> None:
    response = portal.post_form(
        "/tjeneste", {"service_id": "helsestasjon-1"}, from_page="/tjeneste", htmx=True
    )
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/"
    assert ola.service is not None
    assert ola.service.id == "helsestasjon-1"


def test_a_unit_not_offered_is_refused_without_asking_auth(portal: Portal, ola: Person) -> None:
    response = portal.post_form("/tjeneste", {"service_id": "bup-1"}, from_page="/tjeneste")
    assert response.status_code == 422
    assert "Velg en av tjenestene i listen." in response.text
    assert _switch_calls(portal) == 0
    assert ola.service is None


def test_a_unit_auth_refuses_shows_why_and_changes_nothing(portal: Portal, ola: Person) -> None:
    portal.auth.deactivated_services.add("skole-1")
    response = portal.post_form("/tjeneste", {"service_id": "skole-1"}, from_page="/tjeneste")
    assert response.status_code == 403
    assert "Du kan ikke handle for denne tjenesten lenger" in response.text
    assert _switch_calls(portal) == 1
    assert ola.service is None


def test_a_post_without_the_csrf_token_is_refused(portal: Portal, ola: Person) -> None:
    portal.client.get("/tjeneste")
    response = portal.client.post(
        "/tjeneste", data={"service_id": "skole-1"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert _switch_calls(portal) == 0
    assert ola.service is None


def test_staff_of_one_unit_see_it_without_a_choice(portal: Portal) -> None:
    portal.log_in(portal.staff)
    front = portal.client.get("/")
    assert "Du handler nå for: <strong>Nordby helsestasjon</strong>" in front.text
    assert 'href="/tjeneste"' not in front.text


def test_guardians_have_no_choice_and_strangers_go_to_the_front_page(portal: Portal) -> None:
    anonymous = portal.client.get("/tjeneste", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/"
    portal.log_in(portal.guardian)
    assert portal.client.get("/tjeneste").status_code == 403
    assert "Du handler nå for" not in portal.client.get("/").text
    refused = portal.post_form("/tjeneste", {"service_id": "skole-1"}, from_page="/")
    assert refused.status_code == 403
    assert _switch_calls(portal) == 0
