"""Creating, reading, writing in and inviting to a stafettlogg through the portal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from services.portal.entry_bodies import (
    CorrectionBody,
    EntryBody,
    EvaluationBody,
    MeasureBody,
    TextBody,
)
from services.portal.sealing import open_epoch_keys, seal_entry, utc_timestamp
from services.portal.timeline import expected_clear
from shared.crypto.envelope import SealedEnvelope
from shared.wire import EntryView
from tests.portal.conftest import Portal
from tests.portal.fakes import Person


def test_creating_a_log_sends_logg_only_ciphertext(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg(
        child_name="Ingrid Hemmeligsen", title="Sover dårlig og er mye borte"
    )
    assert stafettlogg_id in portal.logg.logs
    assert portal.logg.request_bodies, "logg received the new log"
    for body in portal.logg.request_bodies:
        assert b"Ingrid" not in body
        assert b"Hemmeligsen" not in body
        assert b"Sover" not in body
        assert b"2016-05-03" not in body
    stored = portal.logg.logs[stafettlogg_id].new
    assert stored.sealed_description.header.type == "description"
    assert stored.sealed_description.header.author == "staff-1"
    assert [(g.recipient_kind, g.recipient_id, g.epoch) for g in stored.key_grants] == [
        ("person", "staff-1", 1)
    ]


def test_a_new_log_reads_back_decrypted_on_its_page(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg(child_name="Ola Nordmann", title="Trives ikke")
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert page.status_code == 200
    assert "<h1>Ola Nordmann</h1>" in page.text
    assert "Trives ikke" in page.text
    assert "3. mai 2016" in page.text
    assert "Deltakere" in page.text
    assert "stafettholder" in page.text
    front = portal.client.get("/")
    assert f'href="/stafettlogger/{stafettlogg_id}">Ola Nordmann — Trives ikke</a>' in front.text


def test_form_errors_keep_what_was_typed(portal: Portal) -> None:
    portal.log_in(portal.staff)
    response = portal.post_form(
        "/stafettlogger",
        {"child_name": "Kari <Nordmann>", "child_birth_date": "2099-01-01", "title": ""},
        from_page="/stafettlogger/ny",
    )
    assert response.status_code == 422
    assert 'value="Kari &lt;Nordmann&gt;"' in response.text
    assert 'value="2099-01-01"' in response.text
    assert "Fødselsdatoen kan ikke være fram i tid." in response.text
    assert "Skriv kort hva bekymringen gjelder." in response.text
    assert portal.logg.logs == {}


def test_a_birth_date_that_is_not_a_date_is_explained(portal: Portal) -> None:
    portal.log_in(portal.staff)
    response = portal.post_form(
        "/stafettlogger",
        {"child_name": "Kari", "child_birth_date": "3. mai", "title": "Bekymring"},
        from_page="/stafettlogger/ny",
    )
    assert response.status_code == 422
    assert "for eksempel 2016-05-03" in response.text
    assert 'value="3. mai"' in response.text


def test_a_post_without_csrf_token_is_refused(portal: Portal) -> None:
    portal.log_in(portal.staff)
    response = portal.client.post(
        "/stafettlogger",
        data={"child_name": "Kari", "child_birth_date": "2016-05-03", "title": "Bekymring"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "Skjemaet var for gammelt" in response.text
    assert portal.logg.logs == {}


def test_writing_an_entry_seals_it_and_it_reads_back(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "observation", "text": "Glad i dag.\nSpiste <godt> & sov."},
        from_page=path,
    )
    assert response.status_code == 303
    assert response.headers["location"] == path
    entries = portal.logg.logs[stafettlogg_id].entries
    assert len(entries) == 1
    assert b"Glad i dag" not in portal.logg.request_bodies[-1]
    assert entries[0].sealed.header.type == "observation"
    page = portal.client.get(path)
    assert "Glad i dag.\nSpiste &lt;godt&gt; &amp; sov." in page.text
    assert "Observasjon" in page.text
    assert "Stine Stafettholder" in page.text


def test_an_entry_that_is_too_long_keeps_the_text(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    text = "x" * 10_001
    response = portal.post_form(
        f"{path}/oppforinger", {"entry_type": "message", "text": text}, from_page=path
    )
    assert response.status_code == 422
    assert text in response.text
    assert "høyst 10 000 tegn" in response.text
    assert portal.logg.logs[stafettlogg_id].entries == []


def test_an_entry_that_fails_to_open_is_shown_as_such(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    portal.post_form(f"{path}/oppforinger", {"entry_type": "goal", "text": "Mål"}, from_page=path)
    stored = portal.logg.logs[stafettlogg_id].entries[0]
    tampered = bytearray(stored.sealed.ciphertext)
    tampered[-1] ^= 1
    sealed = SealedEnvelope(
        stored.sealed.header,
        stored.sealed.wrapped_entry_key,
        bytes(tampered),
        stored.sealed.signature,
    )
    portal.logg.logs[stafettlogg_id].entries[0] = type(stored)(stored.id, sealed, stored.stored_at)
    page = portal.client.get(path)
    assert page.status_code == 200
    assert "Denne oppføringen kunne ikke åpnes" in page.text


def test_an_htmx_entry_post_answers_with_the_entries_fragment_only(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "message", "text": "Hei alle sammen"},
        from_page=path,
        htmx=True,
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="entries"')
    assert "<html" not in response.text
    assert "Hei alle sammen" in response.text
    assert "HX-Request" in response.headers["vary"]


def test_htmx_get_targeting_entries_returns_that_block(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    response = portal.client.get(
        f"/stafettlogger/{stafettlogg_id}", headers={"HX-Request": "true", "HX-Target": "entries"}
    )
    assert response.text.lstrip().startswith('<section id="entries"')
    restore = portal.client.get(
        f"/stafettlogger/{stafettlogg_id}",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text


def test_older_entries_are_paged_with_a_cursor(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    for number in range(21):
        portal.post_form(
            f"{path}/oppforinger",
            {"entry_type": "message", "text": f"Melding nr {number}"},
            from_page=path,
        )
    first = portal.client.get(path)
    assert "Melding nr 20" in first.text
    assert "Melding nr 0<" not in first.text
    assert "Eldre oppføringer" in first.text
    older = portal.client.get(f"{path}?cursor=20")
    assert "Melding nr 0<" in older.text


def test_a_non_participant_gets_a_friendly_403(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    portal.log_in(portal.outsider)
    response = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert response.status_code == 403
    assert "Du har ikke tilgang til denne stafettloggen" in response.text


def test_an_unknown_log_gets_a_404_page(portal: Portal) -> None:
    portal.log_in(portal.staff)
    for path in ("/stafettlogger/finnesikke", "/stafettlogger/..%2Fetc"):
        response = portal.client.get(path)
        assert response.status_code == 404
        assert "Vi fant ikke siden" in response.text


def test_logg_down_gives_a_friendly_503_page(portal: Portal) -> None:
    portal.log_in(portal.staff)
    portal.logg.down = True
    response = portal.client.get("/")
    assert response.status_code == 503
    assert "Tjenesten er utilgjengelig akkurat nå" in response.text


def test_an_added_guardian_can_read_and_write(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg(child_name="Per Hansen")
    path = f"/stafettlogger/{stafettlogg_id}"
    portal.post_form(
        f"{path}/oppforinger", {"entry_type": "concern", "text": "Uro"}, from_page=path
    )
    response = portal.post_form(f"{path}/foresatte", {"pid": "010203 12345"}, from_page=path)
    assert response.status_code == 303
    assert b"01020312345" not in b"".join(portal.logg.request_bodies)
    page = portal.client.get(path)
    assert "Gro Foresatt" in page.text
    assert "skriver" in page.text

    portal.log_in(portal.guardian)
    page = portal.client.get(path)
    assert "<h1>Per Hansen</h1>" in page.text
    assert "Uro" in page.text
    assert "Legg til foresatt" not in page.text
    response = portal.post_form(
        f"{path}/oppforinger", {"entry_type": "message", "text": "Takk for i dag"}, from_page=path
    )
    assert response.status_code == 303
    assert "Takk for i dag" in portal.client.get(path).text


def test_a_fodselsnummer_auth_refuses_keeps_the_typed_value(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(f"{path}/foresatte", {"pid": "99999999999"}, from_page=path)
    assert response.status_code == 422
    assert 'value="99999999999"' in response.text
    assert "Fødselsnummeret er ikke gyldig" in response.text
    short = portal.post_form(f"{path}/foresatte", {"pid": "1234"}, from_page=path)
    assert short.status_code == 422
    assert "Et fødselsnummer har 11 siffer" in short.text


def test_adding_a_guardian_twice_is_explained(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    again = portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    assert again.status_code == 409
    assert "Denne personen er allerede med i stafettloggen." in again.text


def test_an_added_service_lets_its_staff_read(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg(child_name="Lise Lund")
    path = f"/stafettlogger/{stafettlogg_id}"
    page = portal.client.get(path)
    assert '<option value="skole-1">Nordby skole</option>' in page.text
    response = portal.post_form(
        f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path, htmx=True
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="participants"')
    assert "Nordby skole er lagt til." in response.text
    from tests.portal.fakes import Person

    teacher = portal.auth.add_person(
        Person("staff-2", "Tone Lærer", "staff", service=portal.school)
    )
    portal.log_in(teacher)
    assert "<h1>Lise Lund</h1>" in portal.client.get(path).text


def test_an_unknown_service_is_refused_with_a_message(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(f"{path}/tjenester", {"service_id": "nope"}, from_page=path)
    assert response.status_code == 422
    assert "Velg en tjeneste fra listen." in response.text


def test_creating_a_log_with_htmx_redirects_the_whole_page(portal: Portal) -> None:
    portal.log_in(portal.staff)
    response = portal.post_form(
        "/stafettlogger",
        {"child_name": "Kari", "child_birth_date": "2016-05-03", "title": "Uro"},
        from_page="/stafettlogger/ny",
        htmx=True,
    )
    assert response.status_code == 200
    assert response.headers["hx-redirect"].startswith("/stafettlogger/")
    invalid = portal.post_form(
        "/stafettlogger",
        {"child_name": "", "child_birth_date": "2016-05-03", "title": "Uro"},
        from_page="/stafettlogger/ny",
        htmx=True,
    )
    assert invalid.status_code == 422
    assert invalid.text.lstrip().startswith('<form id="new_stafettlogg_form"')


def test_a_non_participant_cannot_write(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    portal.log_in(portal.outsider)
    response = portal.post_form(
        f"/stafettlogger/{stafettlogg_id}/oppforinger",
        {"entry_type": "message", "text": "Hei"},
        from_page="/",
    )
    assert response.status_code == 403
    assert "Du har ikke tilgang til denne stafettloggen" in response.text
    assert portal.logg.logs[stafettlogg_id].entries == []


def test_every_form_on_the_log_page_carries_the_csrf_field(portal: Portal) -> None:
    portal.log_in(portal.staff)
    page = portal.client.get(f"/stafettlogger/{portal.create_stafettlogg()}")
    local_forms = page.text.count('<form method="post" action="/stafettlogger/')
    # add a guardian, add a service, write an entry, change the level, hand over, close
    assert local_forms == 6
    language_switch = page.text.count('<form method="post" action="/sprak"')
    assert language_switch == 1
    assert page.text.count('name="_csrf_token"') == local_forms + language_switch


def test_a_guardians_name_is_corrected_once_they_have_logged_in(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    portal.guardian.name = "Ukjent foresatt"  # what auth calls a guardian before first login
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    assert "Ukjent foresatt" in portal.client.get(path).text
    portal.guardian.name = "Gro Foresatt"  # the name auth learns at the first login
    portal.log_in(portal.guardian)
    portal.client.get(path)
    portal.log_in(portal.staff)
    page = portal.client.get(path).text
    assert "Gro Foresatt" in page
    assert "Ukjent foresatt" not in page


_PAST = (date.today() - timedelta(days=10)).isoformat()


def _append(
    portal: Portal,
    stafettlogg_id: str,
    entry_id: str,
    entry_type: str,
    body: EntryBody,
    *,
    author: Person | None = None,
) -> str:
    """Seal an entry as the portal would and store it in the fake logg directly (the log's
    length is what these tests vary; writing hundreds through the form would be slow)."""
    person = author or portal.staff
    log = portal.logg.logs[stafettlogg_id]
    view = portal.logg._view(log, person.subject)  # the key grants the person can open
    epoch_key = open_epoch_keys(view, subject=person.subject, keys=person.keys)[1]
    sealed = seal_entry(
        stafettlogg_id,
        entry_id,
        entry_type,
        body,
        epoch=1,
        epoch_key=epoch_key,
        author=person.subject,
        author_keys=person.keys,
        created_at=utc_timestamp(),
    )
    refers_to, due_on = expected_clear(body)
    log.entries.append(
        EntryView(
            id=entry_id,
            sealed=sealed,
            stored_at=datetime.now(UTC),
            refers_to=refers_to,
            due_on=due_on,
        )
    )
    return entry_id


def _measure(goal_id: str) -> MeasureBody:
    return MeasureBody(
        text="Fast voksen i storefri",
        goal_id=goal_id,
        responsible="Lars Lærer",
        start_on=None,
        evaluate_on=_PAST,
        status="active",
    )


def _fill(portal: Portal, stafettlogg_id: str, count: int) -> None:
    """`count` entries in blocks of five: a goal, a measure for it (due for evaluation), an
    evaluation of it, a message, a correction of the message."""
    for n in range(count):
        entry_id, before = f"e{n:04d}", f"e{n - 1:04d}"
        body: EntryBody
        entry_type = ("goal", "measure", "evaluation", "message", "correction")[n % 5]
        if entry_type == "measure":
            body = _measure(before)
        elif entry_type == "evaluation":
            body = EvaluationBody(text="Bra", measure_id=before, outcome="continue")
        elif entry_type == "correction":
            body = CorrectionBody(text="Rettet", corrects=before)
        else:
            body = TextBody(text=f"{entry_type} {n}")
        _append(portal, stafettlogg_id, entry_id, entry_type, body)


def _logg_calls_for_page(portal: Portal, path: str) -> list[httpx.Request]:
    portal.logg.requests.clear()
    response = portal.client.get(path)
    assert response.status_code == 200
    return list(portal.logg.requests)


def test_a_page_view_makes_as_many_logg_calls_for_a_long_log_as_for_a_short_one(
    portal: Portal,
) -> None:
    portal.log_in(portal.staff)
    short, long = portal.create_stafettlogg(), portal.create_stafettlogg()
    for stafettlogg_id, length in ((short, 30), (long, 300)):
        _fill(portal, stafettlogg_id, length)
        correction = CorrectionBody(text="Rettet", corrects="e0000")  # far back in the long log
        _append(portal, stafettlogg_id, "corrects-first", "correction", correction)

    short_calls = _logg_calls_for_page(portal, f"/stafettlogger/{short}")
    long_calls = _logg_calls_for_page(portal, f"/stafettlogger/{long}")

    assert len(long_calls) == len(short_calls)
    assert len(long_calls) <= 8
    entry_reads = [r for r in long_calls if r.url.path.endswith("/entries")]
    assert all(int(r.url.params["limit"]) <= 100 for r in entry_reads)
    assert not any("cursor" in r.url.params for r in entry_reads)
    assert sum("id" in r.url.params for r in entry_reads) == 1  # e0000, and e0280 (a goal)
    assert [(r.url.params.get_list("type")) for r in entry_reads if "type" in r.url.params] == [
        ["goal", "measure", "meeting"]
    ]


def test_links_reach_entries_older_than_the_page(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    _fill(portal, stafettlogg_id, 300)
    measure = _append(portal, stafettlogg_id, "m-old", "measure", _measure("e0000"))
    for n in range(18):
        _append(portal, stafettlogg_id, f"x{n}", "message", TextBody(text=f"Melding {n}"))
    evaluation = EvaluationBody(text="Gikk fint", measure_id=measure, outcome="end")
    _append(portal, stafettlogg_id, "eval-new", "evaluation", evaluation)
    correction = CorrectionBody(text="Rettet tiltak", corrects=measure)
    _append(portal, stafettlogg_id, "corr-new", "correction", correction)

    first = portal.client.get(path).text
    second = portal.client.get(f"{path}?cursor=20").text

    assert 'Evaluering av <a href="#entry-m-old">Tiltak' in first
    assert 'Retter oppføringen fra <a href="#entry-m-old">Tiltak' in first
    assert 'id="entry-m-old"' in second
    assert 'Rettet i <a href="#entry-corr-new">Rettelse' in second
    assert 'Mål: <a href="#entry-e0000">Mål' in second
    assert "Evaluering forfalt" not in second.split('id="entry-m-old"')[1].split("</li>")[0]


def test_a_measure_is_due_for_evaluation_until_an_evaluation_refers_to_it(
    portal: Portal,
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    _fill(portal, stafettlogg_id, 300)
    _append(portal, stafettlogg_id, "m-open", "measure", _measure("e0295"))

    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}").text

    assert page.count("Evaluering forfalt") == 1  # the measures in the blocks are evaluated
    assert page.index("Evaluering forfalt") < page.index('id="entry-e0299"')


def test_an_own_entry_older_than_the_page_can_be_corrected(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    _fill(portal, stafettlogg_id, 300)

    form = portal.client.get(f"{path}?rett_opp=e0003").text
    response = portal.post_form(
        f"{path}/oppforinger",
        {"entry_type": "correction", "text": "Rettet igjen", "corrects": "e0003"},
        from_page=path,
    )

    assert '<option value="e0003" selected>' in form
    assert response.status_code == 303, response.text
    assert portal.logg.logs[stafettlogg_id].entries[-1].refers_to == "e0003"


def test_the_forms_offer_the_newest_goals_measures_and_meetings_of_a_long_log(
    portal: Portal,
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    _fill(portal, stafettlogg_id, 300)
    for n in range(30):
        _append(portal, stafettlogg_id, f"msg{n}", "message", TextBody(text="Ikke et mål"))

    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}").text

    goals = page.split('<select id="goal_id"')[1].split("</select>")[0]
    assert '<option value="e0295">' in goals
    assert '<option value="e0000">' not in goals  # only the newest 100 of the three types
    measures = page.split('<select id="measure_id"')[1].split("</select>")[0]
    assert '<option value="e0296">' in measures
