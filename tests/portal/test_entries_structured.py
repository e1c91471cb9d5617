"""Structured entries: the form adapts to the type, every type's fields are sealed as
docs/crypto.md says, and the timeline shows them with their links and due dates."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec

from tests.portal.conftest import Portal

_TODAY = date.today()


def _log(portal: Portal) -> str:
    portal.log_in(portal.staff)
    return f"/stafettlogger/{portal.create_stafettlogg()}"


def _write(portal: Portal, path: str, fields: dict[str, str]) -> str:
    """Write an entry through the form and return its id."""
    before = len(portal.logg.logs[path.rsplit("/", 1)[1]].entries)
    response = portal.post_form(f"{path}/oppforinger", fields, from_page=path)
    assert response.status_code == 303, response.text
    entries = portal.logg.logs[path.rsplit("/", 1)[1]].entries
    assert len(entries) == before + 1
    return entries[-1].id


def _measure(portal: Portal, path: str, goal_id: str, evaluate_on: date) -> str:
    return _write(
        portal,
        path,
        {
            "entry_type": "measure",
            "text": "Fast voksen i storefri",
            "goal_id": goal_id,
            "responsible": "Lars Lærer",
            "start_on": "2026-01-05",
            "evaluate_on": evaluate_on.isoformat(),
            "measure_status": "active",
        },
    )


def test_a_measure_is_sealed_with_its_goal_and_evaluation_date_in_clear(portal: Portal) -> None:
    path = _log(portal)
    goal_id = _write(portal, path, {"entry_type": "goal", "text": "Trives i friminuttene"})
    evaluate_on = _TODAY + timedelta(days=60)
    measure_id = _measure(portal, path, goal_id, evaluate_on)
    stored = portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1]
    assert stored.id == measure_id
    assert stored.refers_to == goal_id
    assert stored.due_on == evaluate_on
    assert stored.sealed.header.type == "measure"
    for body in portal.logg.request_bodies:
        assert b"Lars" not in body
        assert b"storefri" not in body
        assert b"friminuttene" not in body
    page = portal.client.get(path).text
    assert "Fast voksen i storefri" in page
    assert "<dt>Ansvarlig</dt><dd>Lars Lærer</dd>" in page
    assert "<dt>Status</dt><dd>pågår</dd>" in page
    assert f'Mål: <a href="#entry-{goal_id}">' in page
    assert "Evaluering forfalt" not in page
    assert "Evaluering snart" not in page


def test_a_measure_without_responsible_or_date_keeps_what_was_typed(portal: Portal) -> None:
    path = _log(portal)
    goal_id = _write(portal, path, {"entry_type": "goal", "text": "Mål"})
    response = portal.post_form(
        f"{path}/oppforinger",
        {
            "entry_type": "measure",
            "text": "Leksehjelp <to> dager",
            "goal_id": goal_id,
            "start_on": "5. januar",
            "measure_status": "planned",
        },
        from_page=path,
    )
    assert response.status_code == 422
    assert "Noe må rettes før du kan gå videre" in response.text
    assert "Skriv hvem som er ansvarlig for tiltaket." in response.text
    assert "Skriv når tiltaket skal evalueres." in response.text
    assert "Skriv startdatoen som år-måned-dag" in response.text
    assert "Leksehjelp &lt;to&gt; dager</textarea>" in response.text
    assert 'value="5. januar"' in response.text
    assert f'<option value="{goal_id}" selected>' in response.text
    assert len(portal.logg.logs[path.rsplit("/", 1)[1]].entries) == 1


def test_a_measure_past_its_evaluation_date_is_marked_until_evaluated(portal: Portal) -> None:
    path = _log(portal)
    goal_id = _write(portal, path, {"entry_type": "goal", "text": "Mål"})
    measure_id = _measure(portal, path, goal_id, _TODAY - timedelta(days=1))
    assert "Evaluering forfalt" in portal.client.get(path).text
    _write(
        portal,
        path,
        {
            "entry_type": "evaluation",
            "text": "Det har gått bra",
            "measure_id": measure_id,
            "outcome": "continue",
        },
    )
    stored = portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1]
    assert stored.refers_to == measure_id
    assert stored.due_on is None
    page = portal.client.get(path).text
    assert "Evaluering forfalt" not in page
    assert "Evaluering av" in page
    assert "Fortsette tiltaket" in page


def test_a_measure_due_within_two_weeks_is_marked_soon(portal: Portal) -> None:
    path = _log(portal)
    goal_id = _write(portal, path, {"entry_type": "goal", "text": "Mål"})
    _measure(portal, path, goal_id, _TODAY + timedelta(days=3))
    assert "Evaluering snart" in portal.client.get(path).text


def test_an_evaluation_must_name_a_measure_of_the_log(portal: Portal) -> None:
    path = _log(portal)
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "evaluation", "text": "Bra", "measure_id": "finnes-ikke"},
        from_page=path,
    )
    assert response.status_code == 422
    assert "Velg tiltaket som evalueres." in response.text
    assert "Velg hva dere vil gjøre videre med tiltaket." in response.text


def test_a_meeting_seals_time_place_invited_and_agenda(portal: Portal) -> None:
    path = _log(portal)
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    response = portal.post_form(
        f"{path}/oppforinger",
        {
            "entry_type": "meeting",
            "text": "Velkommen\nStatus på tiltak\n",
            "starts_at": "2026-12-01T09:30",
            "place": "Nordby skole, møterom 2",
            "invited": "person:guardian-1",
        },
        from_page=path,
    )
    assert response.status_code == 303, response.text
    stored = portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1]
    assert stored.due_on == date(2026, 12, 1)
    page = portal.client.get(path).text
    assert "<li>Velkommen</li><li>Status på tiltak</li>" in page
    assert "<dt>Sted</dt><dd>Nordby skole, møterom 2</dd>" in page
    assert "<dt>Tid</dt><dd>1. desember 2026 kl. 09:30</dd>" in page
    assert "<dt>Invitert</dt><dd>Gro Foresatt</dd>" in page
    minutes = _write(
        portal,
        path,
        {
            "entry_type": "minutes",
            "text": "Vi ble enige om å fortsette.",
            "meeting_id": stored.id,
            "present": "person:staff-1",
        },
    )
    log = portal.logg.logs[path.rsplit("/", 1)[1]]
    assert log.entries[-1].id == minutes
    assert log.entries[-1].refers_to == stored.id
    assert "<dt>Til stede</dt><dd>Stine Stafettholder</dd>" in portal.client.get(path).text
    assert b"Nordby skole, m" not in b"".join(portal.logg.request_bodies)


def test_a_meeting_without_time_or_place_is_explained(portal: Portal) -> None:
    path = _log(portal)
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "meeting", "text": "Sak 1", "starts_at": "i morgen", "invited": "x:y"},
        from_page=path,
    )
    assert response.status_code == 422
    assert "Skriv tidspunktet som år-måned-dag og klokkeslett." in response.text
    assert "Skriv hvor møtet er." in response.text
    assert "Velg deltakere fra listen." in response.text
    assert 'value="i morgen"' in response.text


def test_a_highlight_is_shown_as_a_lysglimt(portal: Portal) -> None:
    path = _log(portal)
    _write(
        portal,
        path,
        {"entry_type": "observation", "text": "Lo mye i dag", "highlight": "ja"},
    )
    page = portal.client.get(path).text
    assert '<span class="entry__badge">Lysglimt</span>' in page
    assert 'class="entry entry--highlight"' in page


def test_a_correction_links_both_ways_and_keeps_the_original(portal: Portal) -> None:
    path = _log(portal)
    original = _write(portal, path, {"entry_type": "message", "text": "Møtet er tirsdag"})
    page = portal.client.get(path).text
    assert f'href="{path}?rett_opp={original}#entry_form"' in page
    form = portal.client.get(f"{path}?rett_opp={original}").text
    assert '<option value="correction" selected>' in form
    assert f'<option value="{original}" selected>' in form
    correction = _write(
        portal,
        path,
        {"entry_type": "correction", "text": "Møtet er onsdag", "corrects": original},
    )
    assert portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1].refers_to == original
    page = portal.client.get(path).text
    assert "Møtet er tirsdag" in page
    assert "Møtet er onsdag" in page
    assert f'Rettet i <a href="#entry-{correction}">' in page
    assert f'Retter oppføringen fra <a href="#entry-{original}">' in page


def test_only_ones_own_entries_can_be_corrected(portal: Portal) -> None:
    path = _log(portal)
    original = _write(portal, path, {"entry_type": "message", "text": "Hei"})
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    portal.log_in(portal.guardian)
    page = portal.client.get(path).text
    assert f"rett_opp={original}" not in page
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "correction", "text": "Nei", "corrects": original},
        from_page=path,
    )
    assert response.status_code == 422
    assert "Velg oppføringen du retter opp." in response.text


def test_a_clear_link_that_differs_from_the_sealed_one_is_flagged(portal: Portal) -> None:
    path = _log(portal)
    goal_id = _write(portal, path, {"entry_type": "goal", "text": "Mål"})
    _measure(portal, path, goal_id, _TODAY - timedelta(days=5))
    log = portal.logg.logs[path.rsplit("/", 1)[1]]
    log.entries[-1] = msgspec.structs.replace(log.entries[-1], due_on=_TODAY + timedelta(days=90))
    page = portal.client.get(path).text
    assert "stemmer ikke med det som står i selve oppføringen" in page
    assert "Evaluering forfalt" not in page  # neither copy is trusted


def test_htmx_swaps_the_fields_when_the_type_changes(portal: Portal) -> None:
    path = _log(portal)
    response = portal.client.get(
        f"{path}?entry_type=measure", headers={"HX-Request": "true", "HX-Target": "entry_fields"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="entry_fields"')
    assert "Evalueringsdato" in response.text
    assert "Lysglimt" not in response.text
    assert "hx-request" in response.headers.get("vary", "").lower()


def test_without_javascript_every_types_fields_are_shown(portal: Portal) -> None:
    path = _log(portal)
    page = portal.client.get(path).text
    for legend in ("Observasjon", "Tiltak", "Evaluering", "Møte", "Referat", "Rettelse"):
        assert f"<legend>{legend}</legend>" in page


def test_an_htmx_entry_error_returns_the_entries_block_with_the_chosen_fields(
    portal: Portal,
) -> None:
    path = _log(portal)
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "meeting", "text": "Sak", "place": "Skolen"},
        from_page=path,
        htmx=True,
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<section id="entries"')
    assert "<legend>Møte</legend>" in response.text
    assert "<legend>Tiltak</legend>" not in response.text
    assert 'value="Skolen"' in response.text
