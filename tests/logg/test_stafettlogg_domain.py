"""The rest of the stafettlogg: level history, handover of the baton, closing, entry links
(corrections, evaluations, minutes, due dates), the youth, and participant paging and removal."""

from __future__ import annotations

from datetime import date

import msgspec

from shared.wire import (
    ClosingRequest,
    HandoverAcceptance,
    LevelChangeRequest,
    NewEntry,
    NewHandover,
    NewParticipant,
    NewParticipantRequest,
    ParticipantRole,
    StafettloggView,
)
from tests.logg.helpers import (
    Actor,
    LoggApi,
    entry_body,
    participant_body,
    seal,
    stafettlogg_body,
)


def _view(api: LoggApi, log_id: str, actor: Actor) -> StafettloggView:
    return msgspec.json.decode(
        api.get(f"/stafettlogger/{log_id}", actor).content, type=StafettloggView
    )


def test_a_level_change_keeps_who_when_and_a_sealed_reason(api: LoggApi) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    reason = seal(coordinator, log_id, key, entry_type="level_change", plaintext=b"To tjenester")
    body = LevelChangeRequest(level=2, reason=reason)

    first = api.post(f"/stafettlogger/{log_id}/level", body, coordinator)
    retry = api.post(f"/stafettlogger/{log_id}/level", body, coordinator)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["from_level"] == 0
    assert first.json()["to_level"] == 2
    assert _view(api, log_id, guardian).level == 2
    history = api.get(f"/stafettlogger/{log_id}/level-changes", guardian).json()["items"]
    assert [(h["id"], h["changed_by"]) for h in history] == [
        (reason.header.entry_id, coordinator.subject)
    ]
    entries = api.get(f"/stafettlogger/{log_id}/entries", guardian).json()["items"]
    assert [e["id"] for e in entries] == [reason.header.entry_id]
    refused = api.post(f"/stafettlogger/{log_id}/level", body, guardian)
    assert refused.json()["type"] == "urn:stafettlogg:problem:coordinator-only"


def test_the_level_reason_cannot_be_written_as_an_ordinary_entry(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)

    response = api.post(
        f"/stafettlogger/{log_id}/entries",
        entry_body(coordinator, log_id, key, entry_type="level_change"),
        coordinator,
    )

    assert response.status_code == 400


def test_the_baton_passes_when_the_proposed_staff_person_accepts(api: LoggApi) -> None:
    coordinator, successor = Actor.staff(), Actor.staff()
    log_id, key = api.create(coordinator, [(successor, "person", "writer")])
    assert successor.service is not None
    api.consent(log_id, coordinator, key, successor.service)
    proposal = NewHandover(id="handover-1", to_subject=successor.subject)

    proposed = api.post(f"/stafettlogger/{log_id}/handover", proposal, coordinator)
    assert proposed.status_code == 201
    assert api.post(f"/stafettlogger/{log_id}/handover", proposal, coordinator).status_code == 200
    assert _view(api, log_id, successor).pending_handover is not None
    stranger = api.post(
        f"/stafettlogger/{log_id}/handover/accept", HandoverAcceptance("handover-1"), coordinator
    )
    assert stranger.json()["type"] == "urn:stafettlogg:problem:not-handover-candidate"

    accepted = api.post(
        f"/stafettlogger/{log_id}/handover/accept", HandoverAcceptance("handover-1"), successor
    )
    again = api.post(
        f"/stafettlogger/{log_id}/handover/accept", HandoverAcceptance("handover-1"), successor
    )

    assert (accepted.status_code, again.status_code) == (200, 200)
    view = _view(api, log_id, successor)
    roles = {p.principal_id: p.role for p in view.participants}
    assert view.coordinator == successor.subject
    assert roles[successor.subject] == "coordinator"
    assert roles[coordinator.subject] == "writer"
    assert view.pending_handover is None


def test_the_baton_goes_only_to_a_participating_person(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)

    response = api.post(
        f"/stafettlogger/{log_id}/handover",
        NewHandover(id="h", to_subject=Actor.staff().subject),
        coordinator,
    )

    assert response.json()["type"] == "urn:stafettlogg:problem:invalid-handover"


def test_a_guardian_closes_with_a_note_and_the_log_becomes_read_only(api: LoggApi) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    note = seal(guardian, log_id, key, entry_type="closing_note", plaintext=b"Takk for samarbeidet")

    closed = api.post(f"/stafettlogger/{log_id}/close", ClosingRequest(closing_note=note), guardian)
    retry = api.post(f"/stafettlogger/{log_id}/close", ClosingRequest(closing_note=note), guardian)

    assert (closed.status_code, retry.status_code) == (200, 200), closed.text
    view = msgspec.json.decode(closed.content, type=StafettloggView)
    assert (view.status, view.closed_by, view.closing_note_id) == (
        "closed",
        guardian.subject,
        note.header.entry_id,
    )
    write = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(coordinator, log_id, key), coordinator
    )
    assert write.status_code == 403
    assert write.json()["type"] == "urn:stafettlogg:problem:stafettlogg-closed"
    assert api.get(f"/stafettlogger/{log_id}/entries", guardian).status_code == 200


def test_closing_may_reference_a_closing_note_written_before(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    note = entry_body(coordinator, log_id, key, entry_type="closing_note")
    assert api.post(f"/stafettlogger/{log_id}/entries", note, coordinator).status_code == 201
    other = entry_body(coordinator, log_id, key, entry_type="message")
    assert api.post(f"/stafettlogger/{log_id}/entries", other, coordinator).status_code == 201
    path = f"/stafettlogger/{log_id}/close"

    wrong = api.post(
        path, ClosingRequest(closing_note_id=other.sealed.header.entry_id), coordinator
    )
    right = api.post(path, ClosingRequest(closing_note_id=note.sealed.header.entry_id), coordinator)

    assert wrong.json()["type"] == "urn:stafettlogg:problem:invalid-closing-note"
    assert right.status_code == 200
    assert api.post(path, ClosingRequest(), coordinator).status_code == 400


def test_a_correction_is_a_new_entry_linked_to_the_old_one_and_both_stay(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    path = f"/stafettlogger/{log_id}/entries"
    original = entry_body(coordinator, log_id, key)
    assert api.post(path, original, coordinator).status_code == 201
    correction = NewEntry(
        sealed=seal(coordinator, log_id, key, entry_type="correction"),
        refers_to=original.sealed.header.entry_id,
    )

    response = api.post(path, correction, coordinator)

    assert response.status_code == 201
    items = api.get(path, coordinator).json()["items"]
    assert [(i["id"], i["refers_to"]) for i in items] == [
        (correction.sealed.header.entry_id, original.sealed.header.entry_id),
        (original.sealed.header.entry_id, None),
    ]
    unlinked = NewEntry(sealed=seal(coordinator, log_id, key, entry_type="correction"))
    assert api.post(path, unlinked, coordinator).json()["type"] == (
        "urn:stafettlogg:problem:invalid-entry-link"
    )


def test_an_evaluation_refers_to_a_measure_which_carries_its_due_date(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    path = f"/stafettlogger/{log_id}/entries"
    measure = NewEntry(
        sealed=seal(coordinator, log_id, key, entry_type="measure"), due_on=date(2030, 5, 1)
    )
    meeting = NewEntry(sealed=seal(coordinator, log_id, key, entry_type="meeting"))
    for body in (measure, meeting):
        assert api.post(path, body, coordinator).status_code == 201

    def evaluation(target: NewEntry) -> NewEntry:
        return NewEntry(
            sealed=seal(coordinator, log_id, key, entry_type="evaluation"),
            refers_to=target.sealed.header.entry_id,
        )

    assert api.post(path, evaluation(measure), coordinator).status_code == 201
    assert api.post(path, evaluation(meeting), coordinator).status_code == 400
    dated_message = NewEntry(
        sealed=seal(coordinator, log_id, key, entry_type="message"), due_on=date(2030, 1, 1)
    )
    assert api.post(path, dated_message, coordinator).status_code == 400
    stored = [i for i in api.get(path, coordinator).json()["items"] if i["due_on"]]
    assert [i["due_on"] for i in stored] == ["2030-05-01"]


def test_the_youth_is_recorded_with_who_declared_the_age_limit_met(api: LoggApi) -> None:
    coordinator, youth = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator)
    grants = participant_body(log_id, key, youth).key_grants

    def request(role: ParticipantRole) -> NewParticipantRequest:
        participant = NewParticipant(
            kind="person",
            principal_id=youth.subject,
            role=role,
            youth=True,
        )
        return NewParticipantRequest(participant=participant, key_grants=grants)

    path = f"/stafettlogger/{log_id}/participants"
    assert api.post(path, request("reader"), coordinator).status_code == 400
    added = api.post(path, request("writer"), coordinator)

    assert added.status_code == 201
    assert (added.json()["youth"], added.json()["youth_declared_by"]) == (True, coordinator.subject)


def test_participants_page_and_removal_is_coordinator_only_and_repeatable(api: LoggApi) -> None:
    coordinator, guardian, other = Actor.staff(), Actor.guardian(), Actor.guardian()
    log_id, _ = api.create(
        coordinator, [(guardian, "person", "writer"), (other, "person", "reader")]
    )
    path = f"/stafettlogger/{log_id}/participants"

    first = api.get(path, guardian, {"limit": 2}).json()
    second = api.get(path, guardian, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) + len(second["items"]) == 3
    assert second["next_cursor"] is None

    target = f"{path}/person/{other.subject}"
    headers = api.minter.headers
    assert api.client.delete(target, headers=headers(guardian)).status_code == 403
    assert api.client.delete(target, headers=headers(coordinator)).status_code == 204
    assert api.client.delete(target, headers=headers(coordinator)).status_code == 204
    assert api.get(f"/stafettlogger/{log_id}", other).status_code == 403
    own = api.client.delete(f"{path}/person/{coordinator.subject}", headers=headers(coordinator))
    assert own.status_code == 409


def _as_youth(request: NewParticipantRequest) -> NewParticipantRequest:
    return msgspec.structs.replace(
        request, participant=msgspec.structs.replace(request.participant, youth=True)
    )


def test_a_log_has_one_young_person(api: LoggApi) -> None:
    """A log is about one child: a second young person (a twin born the same day would pass
    the portal's birth-date check) is refused; the first can be added again (a retry), and once
    removed, another can take their place."""
    coordinator, youth, twin = Actor.staff(), Actor.guardian(), Actor.guardian()
    log_id, key = api.create(coordinator)
    path = f"/stafettlogger/{log_id}/participants"
    first = _as_youth(participant_body(log_id, key, youth))
    second = _as_youth(participant_body(log_id, key, twin))

    assert api.post(path, first, coordinator).status_code == 201
    refused = api.post(path, second, coordinator)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("youth-exists")
    assert api.post(path, first, coordinator).status_code == 200  # the same request again
    records = api.get(f"/stafettlogger/{log_id}/access-records", coordinator).json()["items"]
    assert any(r["reason"] == "refused:youth-exists" for r in records)

    target = f"{path}/person/{youth.subject}"
    assert api.client.delete(target, headers=api.minter.headers(coordinator)).status_code == 204
    assert api.post(path, second, coordinator).status_code == 201


def test_a_new_log_names_at_most_one_young_person(api: LoggApi) -> None:
    coordinator, youth, twin = Actor.staff(), Actor.guardian(), Actor.guardian()
    body, _ = stafettlogg_body(
        coordinator, participants=[(youth, "person", "writer"), (twin, "person", "writer")]
    )
    both = msgspec.structs.replace(
        body,
        participants=[msgspec.structs.replace(p, youth=True) for p in body.participants],
    )

    refused = api.post("/stafettlogger", both, coordinator)

    assert refused.status_code == 400
    assert refused.json()["type"].endswith("invalid-youth")
    assert api.post("/stafettlogger", body, coordinator).status_code == 201
