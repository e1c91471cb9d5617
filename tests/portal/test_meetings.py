"""Meeting invitations: an invited person sees «Du er invitert», answers «Jeg kommer» or «Jeg
kommer ikke» (with or without JavaScript), the answer is a sealed entry that refers to the
meeting, and the meeting shows who has answered what."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.portal.entry_bodies import EntryBody, MeetingBody, MeetingResponseBody
from services.portal.meetings import meeting_invitations
from services.portal.timeline import OpenedEntry, build_index, expected_clear
from shared.crypto.envelope import new_epoch_key
from shared.wire import EntryView
from tests.logg.helpers import Actor, seal
from tests.portal.conftest import Portal

_NEXT_WEEK = (date.today() + timedelta(days=7)).isoformat()


def _meeting(portal: Portal, starts_on: str = _NEXT_WEEK) -> tuple[str, str]:
    """A log with the guardian, and a meeting that invites the guardian; (path, meeting id)."""
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{portal.create_stafettlogg()}"
    added = portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    assert added.status_code == 303, added.text
    written = portal.post_form(
        f"{path}/oppforinger",
        {
            "entry_type": "meeting",
            "text": "Status på tiltak",
            "starts_at": f"{starts_on}T09:30",
            "place": "Nordby skole",
            "invited": "person:guardian-1",
        },
        from_page=path,
    )
    assert written.status_code == 303, written.text
    meeting_id = portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1].id
    return path, meeting_id


def test_the_invited_guardian_is_asked_and_the_coordinator_is_not(portal: Portal) -> None:
    path, meeting_id = _meeting(portal)
    coordinator_page = portal.client.get(path).text
    assert "Du er invitert" not in coordinator_page
    assert "Har ikke svart ennå: Gro Foresatt" in coordinator_page
    portal.log_in(portal.guardian)
    page = portal.client.get(path).text
    assert "Du er invitert" in page
    assert f'action="{path}/moter/{meeting_id}/svar"' in page
    assert 'value="ja"' in page
    assert "Jeg kommer ikke" in page


def test_an_answer_without_javascript_is_sealed_and_shown_on_the_meeting(portal: Portal) -> None:
    path, meeting_id = _meeting(portal)
    portal.log_in(portal.guardian)
    answered = portal.post_form(
        f"{path}/moter/{meeting_id}/svar",
        {"svar": "nei", "kommentar": "Vi er bortreist den uka"},
        from_page=path,
    )
    assert answered.status_code == 303, answered.text
    assert answered.headers["location"] == f"{path}#meeting-{meeting_id}"
    stored = portal.logg.logs[path.rsplit("/", 1)[1]].entries[-1]
    assert stored.sealed.header.type == "meeting_response"
    assert stored.refers_to == meeting_id
    assert stored.due_on is None
    assert b"bortreist" not in b"".join(portal.logg.request_bodies)  # sealed, never in clear
    page = portal.client.get(path).text
    assert "du har svart at du ikke kommer." in page
    assert "kommer ikke</strong> \N{EN DASH} «Vi er bortreist den uka»" in page
    assert "Har ikke svart ennå" not in page
    portal.log_in(portal.staff)
    coordinator_page = portal.client.get(path).text
    assert "Gro Foresatt</span>:" in coordinator_page
    assert "«Vi er bortreist den uka»" in coordinator_page


def test_with_htmx_the_answer_swaps_in_place_and_the_newest_answer_counts(
    portal: Portal,
) -> None:
    path, meeting_id = _meeting(portal)
    portal.log_in(portal.guardian)
    first = portal.post_form(
        f"{path}/moter/{meeting_id}/svar", {"svar": "nei"}, from_page=path, htmx=True
    )
    assert first.status_code == 200, first.text
    assert first.text.lstrip().startswith(f'<div class="meeting-answers" id="meeting-{meeting_id}"')
    assert "<html" not in first.text
    assert "du har svart at du ikke kommer." in first.text
    second = portal.post_form(
        f"{path}/moter/{meeting_id}/svar", {"svar": "ja"}, from_page=path, htmx=True
    )
    assert "Svaret ditt er lagret." in second.text
    assert "du har svart at du kommer." in second.text
    assert second.text.count("<li>") == 1  # one answer per invitee: the newest


def test_a_bad_answer_keeps_the_comment_and_says_what_to_do(portal: Portal) -> None:
    path, meeting_id = _meeting(portal)
    portal.log_in(portal.guardian)
    before = len(portal.logg.logs[path.rsplit("/", 1)[1]].entries)
    too_long = portal.post_form(
        f"{path}/moter/{meeting_id}/svar", {"svar": "ja", "kommentar": "x" * 1001}, from_page=path
    )
    assert too_long.status_code == 422
    assert "Kommentaren kan være høyst 1000 tegn." in too_long.text
    assert 'value="' + "x" * 1001 + '"' in too_long.text
    no_choice = portal.post_form(
        f"{path}/moter/{meeting_id}/svar",
        {"svar": "kanskje", "kommentar": "Usikker"},
        from_page=path,
        htmx=True,
    )
    assert no_choice.status_code == 422
    assert "Velg «Jeg kommer» eller «Jeg kommer ikke»." in no_choice.text
    assert 'value="Usikker"' in no_choice.text
    assert len(portal.logg.logs[path.rsplit("/", 1)[1]].entries) == before


def test_only_invitees_answer_and_only_before_the_meeting(portal: Portal) -> None:
    path, meeting_id = _meeting(portal)
    not_invited = portal.post_form(
        f"{path}/moter/{meeting_id}/svar", {"svar": "ja"}, from_page=path
    )
    assert not_invited.status_code == 403
    assert "Du kan ikke svare på denne invitasjonen" in not_invited.text
    portal.log_in(portal.guardian)
    unknown = portal.post_form(f"{path}/moter/finnes-ikke/svar", {"svar": "ja"}, from_page=path)
    assert unknown.status_code == 404
    odd_id = portal.post_form(f"{path}/moter/ikke%20gyldig/svar", {"svar": "ja"}, from_page=path)
    assert odd_id.status_code == 404
    past_path, past_meeting = _meeting(portal, (date.today() - timedelta(days=2)).isoformat())
    portal.log_in(portal.guardian)
    assert "Du er invitert" in portal.client.get(past_path).text
    late = portal.post_form(
        f"{past_path}/moter/{past_meeting}/svar", {"svar": "ja"}, from_page=past_path
    )
    assert late.status_code == 403


def _opened(author: str, entry_id: str, body: EntryBody, created_at: str) -> OpenedEntry:
    sealed = seal(Actor(author), "log-1", new_epoch_key(), entry_id=entry_id)
    refers_to, due_on = expected_clear(body)
    view = EntryView(entry_id, sealed, datetime.now(UTC), refers_to=refers_to, due_on=due_on)
    return OpenedEntry(view, "x", author, author.title(), created_at, body)


def test_an_answer_counts_only_for_an_invitee_its_author_may_answer_for() -> None:
    meeting = MeetingBody(
        starts_at="2030-01-10T09:00:00+01:00",
        place="Skolen",
        invited=["Gro", "Nordby skole"],
        agenda=["Sak"],
        invited_keys=["person:gro", "service:skole"],
    )
    entries = [
        _opened("stine", "m1", meeting, "2029-12-01T10:00:00+00:00"),
        # Stine claims to answer for Gro: shown in the timeline, never counted as Gro's.
        _opened(
            "stine",
            "a1",
            MeetingResponseBody(meeting_id="m1", invited_key="person:gro", attending=False),
            "2029-12-02T10:00:00+00:00",
        ),
        _opened(
            "lars",
            "a2",
            MeetingResponseBody(
                meeting_id="m1", invited_key="service:skole", attending=True, text="Lars kommer"
            ),
            "2029-12-02T11:00:00+00:00",
        ),
        _opened(
            "gro",
            "a3",
            MeetingResponseBody(meeting_id="m1", invited_key="person:gro", attending=False),
            "2029-12-02T12:00:00+00:00",
        ),
        _opened(
            "gro",
            "a4",
            MeetingResponseBody(meeting_id="m1", invited_key="person:gro", attending=True),
            "2029-12-03T12:00:00+00:00",
        ),
    ]
    index = build_index(entries, "gro")
    people = {"person:gro": "Gro Foresatt", "service:skole": "Nordby skole"}
    invitation = meeting_invitations(
        index,
        ["m1"],
        viewer_as=("person:gro",),
        people=people,
        may_write=True,
        today=date(2029, 12, 5),
    )["m1"]
    assert invitation.can_answer
    assert invitation.own is not None
    assert invitation.own.attending  # the newest of Gro's two answers
    assert [(a.invitee, a.author_name, a.attending) for a in invitation.answers] == [
        ("Gro Foresatt", "Gro", True),
        ("Nordby skole", "Lars", True),
    ]
    assert invitation.waiting == []
    stine = meeting_invitations(
        build_index(entries[:2], "stine"),
        ["m1"],
        viewer_as=("person:stine",),
        people=people,
        may_write=True,
        today=date(2029, 12, 5),
    )["m1"]
    assert not stine.invited
    assert not stine.can_answer
    assert stine.answers == []
    assert stine.waiting == ["Gro Foresatt", "Nordby skole"]
    too_late = meeting_invitations(
        index,
        ["m1"],
        viewer_as=("person:gro",),
        people=people,
        may_write=True,
        today=date(2030, 1, 11),
    )["m1"]
    assert too_late.invited
    assert not too_late.can_answer
