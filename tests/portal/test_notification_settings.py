"""«Varsler»: a person sets or clears their own notification address and turns notifications on
or off; bad input keeps what was typed with a clear message (422), auth's refusal too, and
nothing is sent to auth that the portal already knows is wrong. auth is the fake of
tests/portal/fakes.py, extended with /notifications/preferences that checks addresses with auth's
own rule (services.auth.notifications.addresses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import OKPKey

from services.auth.notifications.addresses import normalize_address
from tests.portal.conftest import Portal, local_settings, running_portal
from tests.portal.fakes import FakeAuth, Person


class AuthWithPreferences(FakeAuth):
    """FakeAuth plus each person's notification preferences, as auth keeps them."""

    def __init__(self, auth_url: str, client_public: OKPKey) -> None:
        super().__init__(auth_url, client_public)
        self.preferences: dict[str, dict[str, object]] = {}
        self.puts = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/notifications/preferences":
            return super().handle(request)
        caller = self._caller(request)
        if caller is None:
            return httpx.Response(401)
        if request.method == "GET":
            stored = self.preferences.get(
                caller.subject, {"email": None, "enabled": True, "language": "nb"}
            )
            return httpx.Response(200, json=stored)
        self.puts += 1
        body = json.loads(request.content)
        email = body["email"]
        if email is not None and normalize_address(email) is None:
            return httpx.Response(400, json={"type": "urn:stafettlogg:problem:invalid-email"})
        stored = {
            "email": None if email is None else normalize_address(email),
            "enabled": body["enabled"],
            "language": body["language"],
        }
        self.preferences[caller.subject] = stored
        return httpx.Response(200, json=stored)


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with running_portal(local_settings(tmp_path), auth_class=AuthWithPreferences) as running:
        yield running


def _auth(portal: Portal) -> AuthWithPreferences:
    assert isinstance(portal.auth, AuthWithPreferences)
    return portal.auth


def test_the_page_is_linked_and_shows_the_stored_choice(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    _auth(portal).preferences["guardian-1"] = {
        "email": "gro@example.no",
        "enabled": False,
        "language": "nn",
    }
    assert 'href="/varsler"' in portal.client.get("/").text
    page = portal.client.get("/varsler")
    assert page.status_code == 200
    assert 'value="gro@example.no"' in page.text
    assert 'name="varsler" type="checkbox" value="på">' in page.text  # not checked
    assert 'value="nn" checked' in page.text
    assert "aldri hva som er skrevet" in page.text


@pytest.mark.parametrize("person", ["guardian", "staff"])
def test_a_person_sets_an_address_and_turns_notifications_on(portal: Portal, person: str) -> None:
    who: Person = getattr(portal, person)
    portal.log_in(who)
    answer = portal.post_form(
        "/varsler",
        {"email": "  Navn@Eksempel.NO ", "varsler": "på", "sprak": "en"},
        from_page="/varsler",
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/varsler?lagret=1"
    stored = _auth(portal).preferences[who.subject]
    assert stored == {"email": "Navn@eksempel.no", "enabled": True, "language": "en"}
    page = portal.client.get("/varsler?lagret=1")
    assert "Valgene dine er lagret." in page.text
    assert 'value="Navn@eksempel.no"' in page.text


def test_clearing_the_address_and_turning_off_is_stored(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    _auth(portal).preferences["guardian-1"] = {
        "email": "gro@example.no",
        "enabled": True,
        "language": "nb",
    }
    answer = portal.post_form("/varsler", {"email": "", "sprak": "nb"}, from_page="/varsler")
    assert answer.status_code == 303, answer.text
    assert _auth(portal).preferences["guardian-1"] == {
        "email": None,
        "enabled": False,
        "language": "nb",
    }


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("gro.example.no", "Dette ser ikke ut som en e-postadresse"),
        ("gro@@example.no", "Dette ser ikke ut som en e-postadresse"),
        ("gro @example.no", "Dette ser ikke ut som en e-postadresse"),
        ("gro@example", "Dette ser ikke ut som en e-postadresse"),
        ("g" * 250 + "@example.no", "høyst 254 tegn"),
        ("", "Skriv en e-postadresse for å få varsler"),
    ],
)
def test_a_bad_address_is_refused_and_what_was_typed_is_kept(
    portal: Portal, typed: str, message: str
) -> None:
    portal.log_in(portal.guardian)
    answer = portal.post_form(
        "/varsler", {"email": typed, "varsler": "på", "sprak": "nb"}, from_page="/varsler"
    )
    assert answer.status_code == 422
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text
    if typed:
        assert f'value="{typed.strip()}"' in answer.text
    assert _auth(portal).puts == 0  # the portal did not pass on what it knew was wrong
    assert "guardian-1" not in _auth(portal).preferences


def test_an_address_auth_refuses_is_shown_in_the_form(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    typed = "gro@-eksempel.no"  # the right shape for the portal; auth's rule says no
    answer = portal.post_form(
        "/varsler", {"email": typed, "varsler": "på", "sprak": "nb"}, from_page="/varsler"
    )
    assert answer.status_code == 422
    assert "Denne e-postadressen kan vi ikke sende til" in answer.text
    assert f'value="{typed}"' in answer.text
    assert _auth(portal).puts == 1
    assert "guardian-1" not in _auth(portal).preferences


def test_an_unknown_language_is_refused(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    answer = portal.post_form(
        "/varsler", {"email": "gro@example.no", "sprak": "de"}, from_page="/varsler"
    )
    assert answer.status_code == 422
    assert "Velg et av språkene" in answer.text
    assert _auth(portal).puts == 0


def test_with_htmx_only_the_form_is_swapped(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    answer = portal.post_form(
        "/varsler",
        {"email": "gro@example.no", "varsler": "på", "sprak": "nb"},
        from_page="/varsler",
        htmx=True,
    )
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<div id="notification_settings">')
    assert "Valgene dine er lagret." in answer.text


def test_not_logged_in_and_without_csrf_nothing_is_stored(portal: Portal) -> None:
    anonymous = portal.client.get("/varsler", follow_redirects=False)
    assert anonymous.status_code in {302, 303, 401}
    portal.log_in(portal.guardian)
    forged = portal.client.post(
        "/varsler", data={"email": "gro@example.no", "varsler": "på"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert _auth(portal).puts == 0


def _staff_posts(portal: Portal) -> list[dict[str, object]]:
    return [
        json.loads(r.content)
        for r in portal.auth.requests
        if r.method == "POST" and r.url.path == "/admin/staff"
    ]


def test_an_administrator_gives_a_new_staff_member_a_notification_address(
    portal: Portal,
) -> None:
    anne = portal.auth.add_person(Person("p_anne", "Anne Admin", "staff", admin=True))
    portal.log_in(anne)
    page = portal.client.get("/admin/ansatte")
    assert 'name="email"' in page.text
    form = {
        "pid": "01818500005",
        "name": "Ny Ansatt",
        "service_ids": "skole-1",
        "email": "ny@skole.example.no",
    }
    added = portal.post_form("/admin/ansatte", form, from_page="/admin/ansatte")
    assert added.status_code == 303, added.text
    assert _staff_posts(portal)[-1]["email"] == "ny@skole.example.no"


def test_a_bad_staff_address_keeps_the_form_and_is_not_sent(portal: Portal) -> None:
    anne = portal.auth.add_person(Person("p_anne", "Anne Admin", "staff", admin=True))
    portal.log_in(anne)
    form = {"pid": "01818500005", "name": "Ny Ansatt", "service_ids": "skole-1", "email": "ny@"}
    refused = portal.post_form("/admin/ansatte", form, from_page="/admin/ansatte")
    assert refused.status_code == 422
    assert "Dette ser ikke ut som en e-postadresse" in refused.text
    assert 'value="ny@"' in refused.text
    assert 'value="Ny Ansatt"' in refused.text
    assert _staff_posts(portal) == []
