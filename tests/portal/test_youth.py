"""«Legg til ungdommen»: from the municipality's age (15 or 16) the coordinator adds the young
person themself, who then reads the log and gives or withdraws consent like a guardian."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from services.portal.form_actions import Refusal
from services.portal.logg_client import LoggError
from services.portal.norwegian import OSLO
from services.portal.youth import _logg_refusal
from services.portal.youth_panel import birth_date_in_pid, build_youth_panel, day_of_age
from shared.wire import AccessRecordView, NewParticipantRequest, ParticipantView
from tests.portal.conftest import Portal
from tests.portal.fakes import Person

_FORM = "Legg til ungdommen</button>"


def _today() -> date:
    return datetime.now(OSLO).date()


def _years_ago(years: int, *, days: int = 0) -> date:
    return day_of_age(_today(), -years) - timedelta(days=days)


def _pid_for(born: date, individual: str = "500") -> str:
    """A fødselsnummer-shaped number for this birth date (the fake auth checks no control
    digits); individual 500 puts 00-39 in the 2000s."""
    return f"{born:%d%m%y}{individual}00"


def _youth_log(portal: Portal, born: date, *, age: int = 16) -> tuple[str, Person]:
    """A log for a child born on `born`, with the municipality's age set, the coordinator
    logged in; and the young person known to auth by a fødselsnummer with that date."""
    portal.auth.municipal_settings = {"youth_consent_age": age, "retention_years": 10}
    youth = portal.auth.add_person(
        Person("youth-1", "Nora Nordmann", "guardian", pid=_pid_for(born))
    )
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg(
        child_name="Nora Nordmann", child_birth_date=born.isoformat(), title="Mye fravær"
    )
    return stafettlogg_id, youth


def _add(portal: Portal, stafettlogg_id: str, pid: str, *, htmx: bool = False) -> tuple[int, str]:
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(f"{path}/ungdom", {"youth_pid": pid}, from_page=path, htmx=htmx)
    return response.status_code, response.text


def _participant_posts(portal: Portal) -> list[NewParticipantRequest]:
    return [
        msgspec.json.decode(r.content, type=NewParticipantRequest)
        for r in portal.logg.requests
        if r.method == "POST" and r.url.path.endswith("/participants")
    ]


# The rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "born"),
    [
        ("14890950095", date(2009, 9, 14)),  # Skatteetaten's synthetic: month + 80
        ("03051650000", date(2016, 5, 3)),
        ("43051650000", date(2016, 5, 3)),  # D-number: day + 40
        ("03451650000", date(2016, 5, 3)),  # H-number / NAV synthetic: month + 40
        ("03058512300", date(1985, 5, 3)),  # individual 000-499: 1900s
        ("03058591200", date(1985, 5, 3)),  # individual 900-999 with 40-99: 1900s
        ("03057060000", date(1870, 5, 3)),  # individual 500-749 with 54-99: 1800s
    ],
)
def test_the_birth_date_is_read_from_a_fodselsnummer(pid: str, born: date) -> None:
    assert birth_date_in_pid(pid) == born


@pytest.mark.parametrize(
    "pid",
    ["3205165000", "32051650000", "03131650000", "03058580000", "0305165000a", "030516500001"],
)
def test_a_number_that_makes_no_birth_date_gives_none(pid: str) -> None:
    assert birth_date_in_pid(pid) is None


def test_one_born_on_29_february_is_a_year_older_on_1_march() -> None:
    assert day_of_age(date(2012, 2, 29), 15) == date(2027, 3, 1)
    assert day_of_age(date(2012, 2, 29), 16) == date(2028, 2, 29)
    assert day_of_age(date(2011, 3, 3), 16) == date(2027, 3, 3)


def test_the_panel_follows_the_age_and_a_youth_already_there() -> None:
    from services.portal.sealing import Description

    description = Description("Nora", "2011-03-03", "Fravær")
    day_before, day_of = date(2027, 3, 2), date(2027, 3, 3)
    assert build_youth_panel(description, [], 16, day_before).state == "too-young"
    assert build_youth_panel(description, [], 16, day_of).addable
    assert build_youth_panel(description, [], 15, day_before).addable
    assert build_youth_panel(description, [], None, day_of).state == "setting-unknown"
    assert build_youth_panel(description, [], 17, day_of).state == "setting-unknown"
    assert build_youth_panel(None, [], 16, day_of).state == "no-birth-date"
    there = ParticipantView("person", "y", "writer", datetime.now(UTC), youth=True)
    assert build_youth_panel(description, [there], 16, day_of).state == "present"


# The page ---------------------------------------------------------------------------------


def test_the_coordinator_sees_the_form_once_the_child_has_reached_the_age(portal: Portal) -> None:
    stafettlogg_id, _ = _youth_log(portal, _years_ago(17))
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert page.status_code == 200
    assert f'action="/stafettlogger/{stafettlogg_id}/ungdom"' in page.text
    assert '<label for="youth_pid">Fødselsnummer til ungdommen</label>' in page.text
    assert _FORM in page.text
    assert "Ungdommen kan legges til fra" not in page.text


def test_a_younger_child_gets_a_sentence_saying_when(portal: Portal) -> None:
    stafettlogg_id, _ = _youth_log(portal, date(2016, 5, 3))
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert "Ungdommen kan legges til fra hen fyller 16 år (3. mai 2032)." in page.text
    assert _FORM not in page.text


@pytest.mark.parametrize(("age", "shown"), [(15, True), (16, False)])
def test_the_municipal_setting_decides_between_15_and_16(
    portal: Portal, age: int, shown: bool
) -> None:
    born = _years_ago(15, days=100)  # fifteen and a bit
    stafettlogg_id, _ = _youth_log(portal, born, age=age)
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert (_FORM in page.text) is shown
    assert ("Ungdommen kan legges til fra hen fyller 16 år" in page.text) is not shown


def test_guardians_and_staff_who_do_not_coordinate_see_no_form(portal: Portal) -> None:
    stafettlogg_id, _ = _youth_log(portal, _years_ago(17))
    path = f"/stafettlogger/{stafettlogg_id}"
    assert portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    portal.log_in(portal.guardian)
    page = portal.client.get(path)
    assert page.status_code == 200
    assert _FORM not in page.text
    assert "Ungdommen kan legges til" not in page.text
    status, text = _add(portal, stafettlogg_id, _pid_for(_years_ago(17)))
    assert status == 403
    assert "Bare stafettholderen kan legge til ungdommen." in text
    assert "Nora Nordmann er lagt til" not in text
    assert not any(p.participant.youth for p in _participant_posts(portal))


def test_settings_that_cannot_be_read_refuse_the_young_person(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    portal.auth.municipal_settings = {"unexpected": True}  # auth answers something unreadable
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert page.status_code == 200
    assert _FORM not in page.text
    assert "aldersgrense for ungdommens eget samtykke kunne ikke leses" in page.text
    status, text = _add(portal, stafettlogg_id, _pid_for(born))
    assert status == 503
    assert "kunne ikke leses, så ungdommen kan ikke legges til nå" in text
    assert f'value="{_pid_for(born)}"' in text  # kept as typed
    assert _participant_posts(portal) == []


def test_an_age_raised_after_the_page_was_shown_is_checked_again(portal: Portal) -> None:
    born = _years_ago(15, days=100)
    stafettlogg_id, _ = _youth_log(portal, born, age=15)
    assert _FORM in portal.client.get(f"/stafettlogger/{stafettlogg_id}").text
    portal.auth.municipal_settings = {"youth_consent_age": 16, "retention_years": 10}
    status, text = _add(portal, stafettlogg_id, _pid_for(born))
    assert status == 409
    assert "Ungdommen kan legges til fra hen fyller 16 år" in text
    assert _participant_posts(portal) == []


# The post ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Skriv fødselsnummeret til ungdommen."),
        ("1234", "Et fødselsnummer har 11 siffer."),
        ("1234567890x", "Et fødselsnummer har 11 siffer."),
        ("32130950000", "Datoen i fødselsnummeret er ikke en gyldig dato."),
    ],
)
def test_a_wrong_fodselsnummer_is_refused_and_kept(
    portal: Portal, typed: str, message: str
) -> None:
    stafettlogg_id, _ = _youth_log(portal, _years_ago(17))
    status, text = _add(portal, stafettlogg_id, typed)
    assert status == 422
    assert message in text
    assert "Noe må rettes før du kan gå videre" in text
    assert 'aria-invalid="true"' in text
    assert f'value="{typed}"' in text
    assert _participant_posts(portal) == []


def test_a_fodselsnummer_of_another_birth_date_is_explained(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    other = born - timedelta(days=1)
    portal.auth.add_person(Person("sibling-1", "Søsken", "guardian", pid=_pid_for(other)))
    status, text = _add(portal, stafettlogg_id, _pid_for(other))
    assert status == 422
    assert "Fødselsnummeret passer ikke med barnets fødselsdato" in text
    assert f"({born.day}. " in text
    assert _participant_posts(portal) == []


def test_a_number_auth_does_not_accept_is_explained(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    unknown = _pid_for(born, individual="502")  # the fake auth refuses a pid it does not know
    status, text = _add(portal, stafettlogg_id, unknown)
    assert status == 422
    assert "Fødselsnummeret er ikke gyldig." in text
    assert _participant_posts(portal) == []


def test_the_young_person_is_added_as_a_writer_marked_youth(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, youth = _youth_log(portal, born)
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/ungdom",
        {"youth_pid": f" {_pid_for(born)[:6]} {_pid_for(born)[6:]}"},
        from_page=path,
    )
    assert response.status_code == 303
    assert response.headers["location"] == path
    (posted,) = _participant_posts(portal)
    assert posted.participant.principal_id == youth.subject
    assert posted.participant.youth is True
    assert posted.participant.role == "writer"
    assert [g.epoch for g in posted.key_grants] == [1]
    stored = portal.logg.logs[stafettlogg_id].participants[-1]
    assert (stored.principal_id, stored.youth, stored.youth_declared_by) == (
        youth.subject,
        True,
        portal.staff.subject,
    )
    for body in portal.logg.request_bodies:  # the fødselsnummer goes to auth only
        assert _pid_for(born).encode() not in body
    page = portal.client.get(path)
    assert 'Nora Nordmann</span> <span class="role">ungdommen</span>' in page.text
    assert _FORM not in page.text
    assert "Ungdommen kan legges til" not in page.text


def test_with_htmx_the_participants_come_back_with_a_notice(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    status, text = _add(portal, stafettlogg_id, _pid_for(born), htmx=True)
    assert status == 200
    assert text.lstrip().startswith('<section id="participants"')
    assert "Nora Nordmann er lagt til som ungdommen." in text
    assert "<html" not in text


def test_a_second_young_person_is_refused(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    assert _add(portal, stafettlogg_id, _pid_for(born))[0] == 303
    portal.auth.add_person(Person("twin-1", "Tvilling", "guardian", pid=_pid_for(born, "504")))
    status, text = _add(portal, stafettlogg_id, _pid_for(born, "504"))
    assert status == 409
    assert "Ungdommen er allerede med i stafettloggen." in text
    assert len(_participant_posts(portal)) == 1


def test_a_person_already_in_the_log_is_explained(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, youth = _youth_log(portal, born)
    path = f"/stafettlogger/{stafettlogg_id}"
    assert portal.post_form(f"{path}/foresatte", {"pid": youth.pid or ""}, from_page=path)
    status, text = _add(portal, stafettlogg_id, _pid_for(born))
    assert status == 409
    assert "Denne personen er allerede med i stafettloggen." in text


def test_a_closed_log_takes_no_young_person(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    portal.logg.logs[stafettlogg_id].status = "closed"
    status, text = _add(portal, stafettlogg_id, _pid_for(born))
    assert status == 409
    assert "Stafettloggen er avsluttet. Ingen kan legges til." in text
    assert _participant_posts(portal) == []


def test_a_post_without_the_csrf_token_is_refused(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, _ = _youth_log(portal, born)
    response = portal.client.post(
        f"/stafettlogger/{stafettlogg_id}/ungdom",
        data={"youth_pid": _pid_for(born)},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _participant_posts(portal) == []


# The young person -------------------------------------------------------------------------


def test_the_young_person_reads_the_log_and_gives_and_withdraws_consent(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, youth = _youth_log(portal, born)
    path = f"/stafettlogger/{stafettlogg_id}"
    assert _add(portal, stafettlogg_id, _pid_for(born))[0] == 303
    assert portal.post_form(f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path)
    portal.log_in(youth)
    page = portal.client.get(path)
    assert page.status_code == 200
    assert "<h1>Nora Nordmann</h1>" in page.text
    assert "Gi samtykke</button>" in page.text
    assert _FORM not in page.text
    given = portal.post_form(
        f"{path}/samtykker",
        {
            "service_id": "skole-1",
            "decision": "given",
            "valid_until": (_today() + timedelta(days=30)).isoformat(),
            "scope": "all",
        },
        from_page=path,
    )
    assert given.status_code == 303
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    assert consent.given_by == youth.subject
    withdrawn = portal.post_form(
        f"{path}/samtykker/{consent.id}/trekk-tilbake", {"service_id": "skole-1"}, from_page=path
    )
    assert withdrawn.status_code == 303
    assert portal.logg.logs[stafettlogg_id].consents[0].status == "withdrawn"


def test_the_access_log_calls_the_young_person_ungdommen(portal: Portal) -> None:
    born = _years_ago(17)
    stafettlogg_id, youth = _youth_log(portal, born)
    path = f"/stafettlogger/{stafettlogg_id}"
    assert _add(portal, stafettlogg_id, _pid_for(born))[0] == 303
    assert portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    at = datetime(2026, 11, 22, 9, 15, tzinfo=UTC)
    portal.logg.logs[stafettlogg_id].access_records.extend(
        AccessRecordView(
            seq=seq,
            at=at + timedelta(hours=seq),
            subject=subject,
            caller_role="guardian",
            service=None,
            roles=["writer"],
            action="read-entries",
            entry_id=None,
            decision="allowed",
            reason="allowed",
            record_hash="00" * 32,
        )
        for seq, subject in ((1, youth.subject), (2, portal.guardian.subject))
    )
    portal.log_in(youth)
    text = portal.client.get(f"{path}/innsyn").text
    rows = text.split("<tr")
    assert any("Nora Nordmann" in row and "Ungdommen" in row for row in rows)
    assert any("Gro Foresatt" in row and "Foresatt<" in row for row in rows)
    assert not any("Gro Foresatt" in row and "Ungdommen" in row for row in rows)


def test_logg_refusing_a_second_young_person_reads_as_the_log_already_having_one() -> None:
    """The panel refuses when the youth is already there; should another add win the race,
    logg's 409 youth-exists says the same, not that "this person" is already there."""
    youth_exists = LoggError(409, "urn:stafettlogg:problem:youth-exists", "Taken", None)
    same_person = LoggError(409, "urn:stafettlogg:problem:participant-exists", "Taken", None)

    assert _logg_refusal(youth_exists) == Refusal(
        "Ungdommen er allerede med i stafettloggen.", 409, "_form"
    )
    assert _logg_refusal(same_person).message == "Denne personen er allerede med i stafettloggen."
