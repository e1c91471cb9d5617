"""The administrators' erasure page: it asks for the log, perhaps an entry, a reason and the
word SLETT; keeps what was typed when something is wrong; shows what was erased and what was
kept for the archive; and is refused to anyone but an administrator."""

from __future__ import annotations

import pytest

from tests.portal.conftest import Portal
from tests.portal.fakes import Person

_REASON = "Oppbevaringstiden er ute, vedtak 2026/17"


@pytest.fixture
def admin(portal: Portal) -> Person:
    person = portal.auth.add_person(Person("p_anne", "Anne Admin", "staff", admin=True))
    portal.log_in(person)
    return person


def _closed_log(portal: Portal, admin: Person) -> str:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    log = portal.logg.logs[stafettlogg_id]
    log.status = "closed"  # closed as logg would have it (closing is tested elsewhere)
    portal.log_in(admin)
    return stafettlogg_id


def test_the_page_asks_for_the_log_a_reason_and_a_confirmation(
    portal: Portal, admin: Person
) -> None:
    page = portal.client.get("/admin/sletting")

    assert page.status_code == 200
    for name in ("stafettlogg_id", "entry_id", "reason", "confirm", "_csrf_token"):
        assert f'name="{name}"' in page.text
    assert "Sletting kan ikke angres" in page.text
    assert "avsluttede stafettlogger i 10 år" in page.text  # auth's retention setting
    assert 'href="/admin/sletting"' in portal.client.get("/admin").text


def test_an_administrator_erases_a_closed_log_and_sees_what_was_kept(
    portal: Portal, admin: Person
) -> None:
    stafettlogg_id = _closed_log(portal, admin)

    response = portal.post_form(
        "/admin/sletting",
        {"stafettlogg_id": stafettlogg_id, "reason": _REASON, "confirm": "SLETT"},
        from_page="/admin/sletting",
    )

    assert response.status_code == 200, response.text
    assert stafettlogg_id not in portal.logg.logs
    assert "Stafettloggen er slettet" in response.text
    assert "Innsynsloggen" in response.text  # kept, in plain words
    assert _REASON in response.text


def test_a_form_with_mistakes_keeps_what_was_typed_and_erases_nothing(
    portal: Portal, admin: Person
) -> None:
    stafettlogg_id = _closed_log(portal, admin)

    response = portal.post_form(
        "/admin/sletting",
        {"stafettlogg_id": stafettlogg_id, "reason": "kort", "confirm": "ja"},
        from_page="/admin/sletting",
    )

    assert response.status_code == 422
    assert stafettlogg_id in portal.logg.logs
    assert f'value="{stafettlogg_id}"' in response.text
    assert ">kort</textarea>" in response.text
    assert "minst 10 tegn" in response.text
    assert "Skriv SLETT" in response.text


def test_an_open_log_is_refused_with_a_message_on_the_field(portal: Portal, admin: Person) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    portal.log_in(admin)

    response = portal.post_form(
        "/admin/sletting",
        {"stafettlogg_id": stafettlogg_id, "reason": _REASON, "confirm": "slett"},
        from_page="/admin/sletting",
    )

    assert response.status_code == 409
    assert "må avsluttes før den kan slettes" in response.text
    assert stafettlogg_id in portal.logg.logs


def test_staff_who_are_not_administrators_get_a_403_page(portal: Portal) -> None:
    portal.log_in(portal.staff)

    page = portal.client.get("/admin/sletting")

    assert page.status_code == 403
    assert 'name="reason"' not in page.text


def test_an_administrator_erases_one_entry_of_an_open_log(portal: Portal, admin: Person) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    for text in ("Skrevet i feil logg", "Riktig logg"):
        written = portal.post_form(
            f"{path}/oppforinger", {"entry_type": "observation", "text": text}, from_page=path
        )
        assert written.status_code == 303, written.text
    wrong, right = portal.logg.logs[stafettlogg_id].entries
    portal.log_in(admin)

    response = portal.post_form(
        "/admin/sletting",
        {
            "stafettlogg_id": stafettlogg_id,
            "entry_id": wrong.id,
            "reason": "Feilført i feil stafettlogg, sak 2026/3",
            "confirm": "SLETT",
        },
        from_page="/admin/sletting",
    )

    assert response.status_code == 200, response.text
    assert "Oppføringen er slettet" in response.text
    assert [entry.id for entry in portal.logg.logs[stafettlogg_id].entries] == [right.id]
