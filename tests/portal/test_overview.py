"""The front page: each log at a glance (name, level, baton, last change, what waits for the
viewer, the next dates) in a bounded number of logg calls per log; and for staff the
evaluations that are due or overdue across their logs, overdue said in words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from shared.wire import DueMeasurePage, DueMeasureView, ParticipantView
from tests.portal.conftest import Portal, local_settings, running_portal
from tests.portal.fakes import FakeLogg, Person

_TODAY = date.today()


class _LoggWithDueMeasures(FakeLogg):
    """The fake logg, answering GET /tiltak/forfall as logg does (services.logg.due_measures),
    without the consent rule. `refuse_due`: answer it with a refusal instead."""

    refuse_due = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/tiltak/forfall":
            return super().handle(request)
        self.requests.append(request)
        if self.refuse_due:
            return httpx.Response(403, content=msgspec.json.encode({"type": "x", "title": "x"}))
        subject = self.auth.subject_of_token(
            request.headers.get("authorization", "").removeprefix("Bearer ")
        )
        if subject is None:
            return httpx.Response(401)
        horizon = _TODAY + timedelta(days=int(request.url.params.get("days", "7")))
        items, views = [], []
        for log in self.logs.values():
            if not self._memberships(log, subject) or log.status != "open":
                continue
            evaluated = {e.refers_to for e in log.entries if e.sealed.header.type == "evaluation"}
            due = [
                entry
                for entry in log.entries
                if entry.sealed.header.type == "measure"
                and entry.due_on is not None
                and entry.due_on <= horizon
                and entry.id not in evaluated
            ]
            items += [DueMeasureView(stafettlogg_id=log.id, entry=entry) for entry in due]
            if due:
                views.append(self._view(log, subject))
        items.sort(key=lambda item: item.entry.due_on or _TODAY)
        page = DueMeasurePage(items=items, stafettlogger=views)
        return self._encode(200, page)


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    """The portal of tests/portal/conftest.py, with a logg that also lists due measures."""
    with running_portal(local_settings(tmp_path), logg_class=_LoggWithDueMeasures) as running:
        yield running


def _log_with_guardian(portal: Portal, child_name: str = "Ola Nordmann") -> str:
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{portal.create_stafettlogg(child_name=child_name)}"
    added = portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    assert added.status_code == 303, added.text
    return path


def _write(portal: Portal, path: str, fields: dict[str, str]) -> str:
    response = portal.post_form(f"{path}/oppforinger", fields, from_page=path)
    assert response.status_code == 303, response.text
    return portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1].id


def _meeting(portal: Portal, path: str, day: date) -> str:
    return _write(
        portal,
        path,
        {
            "entry_type": "meeting",
            "text": "Status",
            "starts_at": f"{day.isoformat()}T09:30",
            "place": "Skolen",
            "invited": "person:guardian-1",
        },
    )


def _measure(
    portal: Portal, path: str, text: str, evaluate_on: date, status: str = "active"
) -> str:
    return _write(
        portal,
        path,
        {
            "entry_type": "measure",
            "text": text,
            "responsible": "Lars Lærer",
            "evaluate_on": evaluate_on.isoformat(),
            "measure_status": status,
        },
    )


def test_a_guardians_card_shows_the_log_at_a_glance(portal: Portal) -> None:
    path = _log_with_guardian(portal)
    next_week = _TODAY + timedelta(days=7)
    _meeting(portal, path, next_week)
    _measure(portal, path, "Leksehjelp", _TODAY + timedelta(days=30))
    portal.log_in(portal.guardian)
    front = portal.client.get("/").text
    assert f'<a href="{path}">Ola Nordmann — Trives ikke på skolen</a>' in front
    assert "<dt>Nivå 0</dt><dd>Vi avklarer om bekymringen har grunnlag.</dd>" in front
    assert "<dt>Stafettholder</dt><dd>Stine Stafettholder</dd>" in front
    assert "<dt>Sist skjedd</dt>" in front
    assert f"<dt>Neste møte</dt><dd>{next_week.day}. " in front
    assert "<dt>Neste evaluering</dt>" in front
    assert "Venter på deg" in front
    assert "Svar på innkallingen til møtet" in front


def test_an_answered_invitation_no_longer_waits(portal: Portal) -> None:
    path = _log_with_guardian(portal)
    meeting_id = _meeting(portal, path, _TODAY + timedelta(days=3))
    portal.log_in(portal.guardian)
    assert f'href="{path}#meeting-{meeting_id}"' in portal.client.get("/").text
    answered = portal.post_form(f"{path}/moter/{meeting_id}/svar", {"svar": "ja"}, from_page=path)
    assert answered.status_code == 303
    front = portal.client.get("/").text
    assert "Svar på innkallingen" not in front
    assert "Venter på deg" not in front


def test_a_past_meeting_and_the_coordinator_are_not_asked(portal: Portal) -> None:
    path = _log_with_guardian(portal)
    _meeting(portal, path, _TODAY - timedelta(days=1))
    assert "Svar på innkallingen" not in portal.client.get("/").text  # the coordinator
    portal.log_in(portal.guardian)
    front = portal.client.get("/").text
    assert "Svar på innkallingen" not in front
    assert "Neste møte" not in front


def test_consent_to_give_waits_for_the_guardian_until_it_is_decided(portal: Portal) -> None:
    path = _log_with_guardian(portal)
    added = portal.post_form(f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path)
    assert added.status_code == 303, added.text
    portal.log_in(portal.guardian)
    front = portal.client.get("/").text
    assert f'<a href="{path}#consent">Gi eller avslå samtykke for Nordby skole</a>' in front
    refused = portal.post_form(
        f"{path}/samtykker",
        {
            "service_id": "skole-1",
            "decision": "refused",
            "valid_until": (_TODAY + timedelta(days=30)).isoformat(),
            "scope": "all",
        },
        from_page=path,
    )
    assert refused.status_code == 303, refused.text
    assert "Gi eller avslå samtykke" not in portal.client.get("/").text  # decided: a refusal


def test_a_proposed_handover_waits_for_the_staff_member(portal: Portal) -> None:
    path = _log_with_guardian(portal)
    stafettlogg_id = path.rsplit("/", 1)[1]
    colleague = portal.auth.add_person(Person("staff-2", "Kari Kontakt", "staff"))
    portal.logg.logs[stafettlogg_id].participants.append(
        ParticipantView("person", "staff-2", "writer", datetime.now(UTC))
    )
    proposed = portal.post_form(
        f"{path}/stafettpinnen", {"to_subject": "staff-2", "handover_note": ""}, from_page=path
    )
    assert proposed.status_code == 303, proposed.text
    assert "Du er foreslått som ny stafettholder" not in portal.client.get("/").text
    portal.log_in(colleague)
    front = portal.client.get("/").text
    assert f'<a href="{path}#lifecycle">Du er foreslått som ny stafettholder</a>' in front


def test_logg_calls_per_card_are_bounded_whatever_the_logs_length(portal: Portal) -> None:
    def calls_for_front_page() -> int:
        before = len(portal.logg.requests)
        assert portal.client.get("/").status_code == 200
        return len(portal.logg.requests) - before

    path = _log_with_guardian(portal)
    _meeting(portal, path, _TODAY + timedelta(days=2))
    portal.log_in(portal.guardian)
    one_short_log = calls_for_front_page()
    portal.log_in(portal.staff)
    for n in range(30):
        _write(portal, path, {"entry_type": "observation", "text": f"Observasjon {n}"})
    portal.log_in(portal.guardian)
    assert calls_for_front_page() == one_short_log
    for child in ("Per", "Pål"):
        other = _log_with_guardian(portal, child)
        _meeting(portal, other, _TODAY + timedelta(days=2))
    portal.log_in(portal.guardian)
    three_logs = calls_for_front_page()
    assert three_logs - 1 == 3 * (one_short_log - 1)  # one call lists the logs


def test_staff_see_due_and_overdue_evaluations_across_their_logs(portal: Portal) -> None:
    first = _log_with_guardian(portal, "Ola Nordmann")
    overdue = _measure(portal, first, "Fast voksen i storefri", _TODAY - timedelta(days=2))
    _measure(portal, first, "Avsluttet tiltak", _TODAY - timedelta(days=5), status="done")
    _measure(portal, first, "Senere tiltak", _TODAY + timedelta(days=20))
    second = _log_with_guardian(portal, "Kari Nordmann")
    soon = _measure(portal, second, "Leksehjelp", _TODAY + timedelta(days=3))
    front = portal.client.get("/").text
    assert '<section id="due_measures"' in front
    section = front.split('<section id="due_measures"', 1)[1].split("</section>", 1)[0]
    assert section.index("Fast voksen i storefri") < section.index("Leksehjelp")
    assert '<li class="due-item due-item--overdue">' in section
    assert '<span class="due-item__status">Forfalt</span>' in section
    assert '<span class="due-item__status">Snart</span>' in section
    assert f'href="{first}#entry-{overdue}"' in section
    assert f'href="{second}#entry-{soon}"' in section
    assert "Kari Nordmann" in section
    assert "Ansvarlig: Lars Lærer" in section
    assert "Avsluttet tiltak" not in section  # sealed as done: nothing to evaluate
    assert "Senere tiltak" not in section
    assert b"storefri" not in b"".join(portal.logg.request_bodies)


def test_guardians_get_no_due_list_and_a_failing_list_is_said_plainly(portal: Portal) -> None:
    _log_with_guardian(portal)
    portal.log_in(portal.guardian)
    assert 'id="due_measures"' not in portal.client.get("/").text
    portal.log_in(portal.staff)
    assert isinstance(portal.logg, _LoggWithDueMeasures)
    portal.logg.refuse_due = True
    front = portal.client.get("/")
    assert front.status_code == 200
    assert "Listen over evalueringer kunne ikke hentes nå. Prøv igjen senere." in front.text
    assert "Ola Nordmann — Trives ikke på skolen" in front.text  # the rest still shows
