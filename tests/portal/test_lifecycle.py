"""The «Stafettholder» section: level, handover, removing a participant, closing."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.wire import ParticipantView
from tests.portal.conftest import Portal
from tests.portal.fakes import Person


def _log(portal: Portal) -> tuple[str, str]:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    return stafettlogg_id, f"/stafettlogger/{stafettlogg_id}"


def _with_colleague(portal: Portal, stafettlogg_id: str) -> Person:
    colleague = portal.auth.add_person(Person("staff-2", "Kari Kontakt", "staff"))
    portal.logg.logs[stafettlogg_id].participants.append(
        ParticipantView("person", "staff-2", "writer", datetime.now(UTC))
    )
    return colleague


def test_the_page_explains_the_current_level(portal: Portal) -> None:
    _, path = _log(portal)
    page = portal.client.get(path).text
    assert "<strong>Nivå 0</strong>: Vi avklarer om bekymringen har grunnlag." in page
    assert "Nivået er ikke endret siden stafettloggen ble opprettet." in page
    assert "Nivå 3: Flere tjenester samarbeider bredt med familien." in page


def test_changing_the_level_seals_the_reason_and_shows_the_history(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    response = portal.post_form(
        f"{path}/niva",
        {"level": "2", "reason": "Skolen og helsestasjonen samarbeider nå"},
        from_page=path,
    )
    assert response.status_code == 303
    log = portal.logg.logs[stafettlogg_id]
    assert log.level == 2
    assert log.entries[-1].sealed.header.type == "level_change"
    assert all(b"samarbeider" not in body for body in portal.logg.request_bodies)
    page = portal.client.get(path).text
    assert "<strong>Nivå 2</strong>: To tjenester samarbeider tett med familien." in page
    assert "Nivåendringer" in page
    assert "<strong>Fra nivå 0 til nivå 2</strong> · Stine Stafettholder" in page
    assert "Skolen og helsestasjonen samarbeider nå" in page
    assert '<span class="entry__type">Nivåendring</span>' in page


def test_a_level_change_needs_a_new_level_and_a_reason(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    missing = portal.post_form(f"{path}/niva", {"level": "1", "reason": ""}, from_page=path)
    assert missing.status_code == 422
    assert "Skriv hvorfor nivået endres." in missing.text
    assert 'id="level-1" name="level" type="radio" value="1" checked' in missing.text
    same = portal.post_form(
        f"{path}/niva", {"level": "0", "reason": "Ingen <endring>"}, from_page=path, htmx=True
    )
    assert same.status_code == 422
    assert same.text.lstrip().startswith('<section id="lifecycle"')
    assert "Stafettloggen er allerede på nivå 0." in same.text
    assert "Ingen &lt;endring&gt;</textarea>" in same.text
    nonsense = portal.post_form(f"{path}/niva", {"level": "7", "reason": "x"}, from_page=path)
    assert nonsense.status_code == 422
    assert portal.logg.logs[stafettlogg_id].level == 0


def test_an_htmx_level_change_answers_with_the_section(portal: Portal) -> None:
    _, path = _log(portal)
    response = portal.post_form(
        f"{path}/niva", {"level": "1", "reason": "Barnehagen følger opp"}, from_page=path, htmx=True
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="lifecycle"')
    assert "Nivået er endret til 1." in response.text


def test_a_guardian_sees_the_level_but_not_the_coordinators_tools(portal: Portal) -> None:
    _, path = _log(portal)
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    portal.log_in(portal.guardian)
    page = portal.client.get(path).text
    assert "<strong>Nivå 0</strong>" in page
    assert "Endre nivå" not in page
    assert "Foreslå ny stafettholder" not in page
    assert "Avslutt stafettloggen" in page  # a guardian may close the log
    refused = portal.post_form(f"{path}/niva", {"level": "2", "reason": "x"}, from_page=path)
    assert refused.status_code == 403


def test_the_baton_is_handed_over_when_the_proposed_person_accepts(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    colleague = _with_colleague(portal, stafettlogg_id)
    response = portal.post_form(
        f"{path}/stafettpinnen",
        {"to_subject": "staff-2", "handover_note": "Møte med familien neste uke"},
        from_page=path,
    )
    assert response.status_code == 303
    log = portal.logg.logs[stafettlogg_id]
    assert log.entries[-1].sealed.header.type == "handover"
    assert all(b"familien neste" not in body for body in portal.logg.request_bodies)
    assert "Kari Kontakt er foreslått som ny stafettholder" in portal.client.get(path).text

    portal.log_in(colleague)
    page = portal.client.get(path).text
    assert "Du er foreslått som ny stafettholder" in page
    accepted = portal.post_form(
        f"{path}/stafettpinnen/ta-imot",
        {"handover_id": log.handovers[-1].id},
        from_page=path,
    )
    assert accepted.status_code == 303
    roles = {p.principal_id: p.role for p in log.participants}
    assert roles == {"staff-1": "writer", "staff-2": "coordinator"}
    page = portal.client.get(path).text
    assert "Stafettholder: <strong>Kari Kontakt</strong>" in page
    assert "Endre nivå" in page


def test_a_handover_needs_a_person_from_the_list(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    assert "må være med i stafettloggen som person" in portal.client.get(path).text
    _with_colleague(portal, stafettlogg_id)
    response = portal.post_form(
        f"{path}/stafettpinnen",
        {"to_subject": "someone-else", "handover_note": "Notatet <mitt>"},
        from_page=path,
    )
    assert response.status_code == 422
    assert "Velg hvem som skal overta stafettpinnen." in response.text
    assert "Notatet &lt;mitt&gt;</textarea>" in response.text
    assert portal.logg.logs[stafettlogg_id].handovers == []


def test_accepting_a_withdrawn_proposal_is_explained(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    colleague = _with_colleague(portal, stafettlogg_id)
    portal.post_form(f"{path}/stafettpinnen", {"to_subject": "staff-2"}, from_page=path)
    portal.log_in(colleague)
    response = portal.post_form(
        f"{path}/stafettpinnen/ta-imot", {"handover_id": "old-one"}, from_page=path
    )
    assert response.status_code == 409
    assert "Forslaget er trukket tilbake eller erstattet." in response.text


def test_removing_a_participant_asks_first(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    portal.post_form(f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path)
    ask = portal.post_form(
        f"{path}/deltakere/fjern", {"participant": "service:skole-1"}, from_page=path
    )
    assert ask.status_code == 200
    assert "Vil du fjerne Nordby skole fra stafettloggen?" in ask.text
    assert "Ja, fjern deltakeren" in ask.text
    log = portal.logg.logs[stafettlogg_id]
    assert any(p.principal_id == "skole-1" for p in log.participants)
    done = portal.post_form(
        f"{path}/deltakere/fjern",
        {"participant": "service:skole-1", "confirm": "ja"},
        from_page=path,
    )
    assert done.status_code == 303
    assert not any(p.principal_id == "skole-1" for p in log.participants)


def test_removing_someone_not_in_the_list_is_refused(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    portal.post_form(f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path)
    response = portal.post_form(
        f"{path}/deltakere/fjern",
        {"participant": "person:staff-1", "confirm": "ja"},
        from_page=path,
        htmx=True,
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<section id="lifecycle"')
    assert "Velg deltakeren du vil fjerne." in response.text
    assert len(portal.logg.logs[stafettlogg_id].participants) == 2


def test_closing_needs_a_closing_note(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    response = portal.post_form(f"{path}/avslutt", {"closing_note": "  "}, from_page=path)
    assert response.status_code == 422
    assert "Skriv et avslutningsnotat før du avslutter." in response.text
    assert portal.logg.logs[stafettlogg_id].status == "open"


def test_a_closed_log_is_read_only_and_says_when_it_closed(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    portal.post_form(f"{path}/oppforinger", {"entry_type": "goal", "text": "Mål"}, from_page=path)
    response = portal.post_form(
        f"{path}/avslutt", {"closing_note": "Målene er nådd, familien er fornøyd"}, from_page=path
    )
    assert response.status_code == 303
    log = portal.logg.logs[stafettlogg_id]
    assert log.status == "closed"
    assert log.entries[-1].sealed.header.type == "closing_note"
    assert all("fornøyd".encode() not in body for body in portal.logg.request_bodies)
    page = portal.client.get(path).text
    assert "<strong>Avsluttet " in page
    assert "Målene er nådd, familien er fornøyd" in page
    assert '<form method="post" action="/stafettlogger/' not in page
    for hidden in ("Lagre oppføring", "Endre nivå", "Avslutt stafettloggen", "Legg til foresatt"):
        assert hidden not in page
    assert "Rett opp" not in page


def test_a_guardian_can_close_with_htmx_and_the_page_reloads(portal: Portal) -> None:
    stafettlogg_id, path = _log(portal)
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    portal.log_in(portal.guardian)
    response = portal.post_form(
        f"{path}/avslutt", {"closing_note": "Vi trenger ikke mer hjelp"}, from_page=path, htmx=True
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == path
    assert portal.logg.logs[stafettlogg_id].closed_by == "guardian-1"
