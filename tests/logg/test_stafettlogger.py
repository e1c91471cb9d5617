"""Creating, reading and listing stafettlogger, and adding participants."""

from __future__ import annotations

import msgspec

from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from shared.wire import (
    NewKeyGrant,
    NewParticipant,
    NewStafettlogg,
    ParticipantView,
    StafettloggPage,
    StafettloggView,
)
from tests.logg.helpers import (
    Actor,
    LoggApi,
    participant_body,
    seal,
    stafettlogg_body,
    wrap_grant,
)


def _view(response: object) -> StafettloggView:
    return msgspec.json.decode(response.content, type=StafettloggView)  # type: ignore[attr-defined]


def test_staff_creates_a_log_and_becomes_its_coordinator(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, epoch_key = stafettlogg_body(coordinator)

    response = api.post("/stafettlogger", body, coordinator)

    assert response.status_code == 201
    view = _view(response)
    assert view.id == body.id
    assert (view.status, view.level, view.current_epoch) == ("open", 0, 1)
    assert [(p.kind, p.principal_id, p.role) for p in view.participants] == [
        ("person", coordinator.subject, "coordinator")
    ]
    assert view.sealed_description == body.sealed_description
    [grant] = view.key_grants
    context = KeyGrantContext(body.id, 1, "person", coordinator.subject)
    assert unwrap_epoch_key(grant.wrapped_key, coordinator.keys, context) == epoch_key


def test_created_log_reads_back_with_participants_and_the_callers_grants_only(
    api: LoggApi,
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    school = Actor.staff()
    body, _ = stafettlogg_body(
        coordinator,
        participants=[(guardian, "person", "writer"), (school, "service", "reader")],
    )
    assert api.post("/stafettlogger", body, coordinator).status_code == 201

    as_guardian = _view(api.get(f"/stafettlogger/{body.id}", guardian))
    as_coordinator = _view(api.get(f"/stafettlogger/{body.id}", coordinator))

    assert {(p.kind, p.role) for p in as_guardian.participants} == {
        ("person", "coordinator"),
        ("person", "writer"),
        ("service", "reader"),
    }
    assert [(g.recipient_kind, g.recipient_id) for g in as_guardian.key_grants] == [
        ("person", guardian.subject)
    ]
    assert [g.recipient_id for g in as_coordinator.key_grants] == [coordinator.subject]


def test_staff_whose_service_participates_can_read_and_receives_the_service_grant(
    api: LoggApi,
) -> None:
    coordinator, school = Actor.staff(), Actor.staff()
    log_id, key = api.create(coordinator, [(school, "service", "reader")])
    assert school.service is not None
    api.consent(log_id, coordinator, key, school.service)
    colleague = Actor.staff(service=school.service)

    response = api.get(f"/stafettlogger/{log_id}", colleague)

    assert response.status_code == 200
    assert [(g.recipient_kind, g.recipient_id) for g in _view(response).key_grants] == [
        ("service", school.service)
    ]


def test_a_guardian_cannot_create_a_log(api: LoggApi) -> None:
    guardian = Actor.guardian()
    body, _ = stafettlogg_body(guardian)

    response = api.post("/stafettlogger", body, guardian)

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:stafettlogg:problem:staff-only"


def test_a_non_participant_is_refused_and_an_unknown_log_is_not_found(api: LoggApi) -> None:
    log_id, _ = api.create(Actor.staff())
    outsider = Actor.staff()

    refused = api.get(f"/stafettlogger/{log_id}", outsider)
    missing = api.get("/stafettlogger/no-such-log", outsider)

    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:stafettlogg:problem:not-a-participant"
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:stafettlogg:problem:stafettlogg-not-found"


def test_retrying_the_same_create_returns_the_existing_log(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, _ = stafettlogg_body(coordinator)

    first = api.post("/stafettlogger", body, coordinator)
    retry = api.post("/stafettlogger", body, coordinator)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert _view(retry).id == body.id
    assert _view(retry).participants == _view(first).participants
    listed = msgspec.json.decode(
        api.get("/stafettlogger", coordinator).content, type=StafettloggPage
    )
    assert [item.id for item in listed.items] == [body.id]


def test_the_same_id_with_another_body_or_caller_conflicts(api: LoggApi) -> None:
    coordinator, other = Actor.staff(), Actor.staff()
    body, _ = stafettlogg_body(coordinator)
    assert api.post("/stafettlogger", body, coordinator).status_code == 201
    changed, _ = stafettlogg_body(coordinator, stafettlogg_id=body.id)
    hijack, _ = stafettlogg_body(other, stafettlogg_id=body.id)

    assert api.post("/stafettlogger", changed, coordinator).status_code == 409
    conflict = api.post("/stafettlogger", hijack, other)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:stafettlogg:problem:stafettlogg-exists"


def test_create_requires_a_grant_for_the_coordinator_at_epoch_one(api: LoggApi) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    body, key = stafettlogg_body(coordinator, participants=[(guardian, "person", "reader")])
    without_own = msgspec.structs.replace(body, key_grants=body.key_grants[1:])
    wrong_epoch = msgspec.structs.replace(
        body, key_grants=[wrap_grant(body.id, key, coordinator, epoch=2)]
    )
    stranger = msgspec.structs.replace(
        body, key_grants=[*body.key_grants, wrap_grant(body.id, key, Actor.staff())]
    )

    for bad in (without_own, wrong_epoch, stranger):
        response = api.post("/stafettlogger", bad, coordinator)
        assert response.status_code == 400
        assert response.json()["type"] == "urn:stafettlogg:problem:invalid-key-grant"


def test_create_refuses_a_description_that_does_not_fit_the_log(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, key = stafettlogg_body(coordinator)
    cases = {
        "other log": seal(coordinator, "another-log", key, entry_type="description"),
        "other author": seal(
            coordinator, body.id, key, entry_type="description", header_author="someone"
        ),
        "epoch 2": seal(coordinator, body.id, key, entry_type="description", epoch=2),
        "not a description": seal(coordinator, body.id, key, entry_type="observation"),
        "signed by another": seal(
            Actor.staff(), body.id, key, entry_type="description", header_author=coordinator.subject
        ),
    }
    for case, description in cases.items():
        bad = msgspec.structs.replace(body, sealed_description=description)
        response = api.post("/stafettlogger", bad, coordinator)
        assert response.status_code == 400, case
    assert api.get(f"/stafettlogger/{body.id}", coordinator).status_code == 404


def test_create_refuses_a_participant_listed_twice(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, _ = stafettlogg_body(coordinator)
    twice = msgspec.structs.replace(
        body,
        participants=[
            NewParticipant(kind="person", principal_id=coordinator.subject, role="reader")
        ],
    )

    response = api.post("/stafettlogger", twice, coordinator)

    assert response.status_code == 400
    assert response.json()["type"] == "urn:stafettlogg:problem:duplicate-participant"


def test_listing_shows_only_the_callers_logs_newest_first_and_pages(api: LoggApi) -> None:
    coordinator = Actor.staff()
    ids = [api.create(coordinator)[0] for _ in range(5)]
    api.create(Actor.staff())  # someone else's

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = msgspec.json.decode(
            api.get("/stafettlogger", coordinator, params).content, type=StafettloggPage
        )
        assert len(page.items) <= 2
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == list(reversed(ids))


def test_listing_includes_logs_the_callers_service_takes_part_in_with_valid_consent(
    api: LoggApi,
) -> None:
    school, coordinator = Actor.staff(), Actor.staff()
    log_id, key = api.create(coordinator, [(school, "service", "reader")])
    unconsented, _ = api.create(coordinator, [(school, "service", "reader")])
    assert school.service is not None
    api.consent(log_id, coordinator, key, school.service)
    colleague = Actor.staff(service=school.service)

    page = msgspec.json.decode(api.get("/stafettlogger", colleague).content, type=StafettloggPage)

    assert [item.id for item in page.items] == [log_id]
    assert unconsented not in [item.id for item in page.items]
    assert page.next_cursor is None


def test_listing_limits_are_bounded(api: LoggApi) -> None:
    caller = Actor.staff()
    for limit in (0, 101, -1):
        response = api.get("/stafettlogger", caller, {"limit": limit})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.get("/stafettlogger", caller, {"limit": 100}).status_code == 200


def test_coordinator_adds_a_participant_who_can_then_open_the_epoch_key(api: LoggApi) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator)

    response = api.post(
        f"/stafettlogger/{log_id}/participants",
        participant_body(log_id, key, guardian, role="writer"),
        coordinator,
    )

    assert response.status_code == 201
    added = msgspec.json.decode(response.content, type=ParticipantView)
    assert (added.kind, added.principal_id, added.role) == ("person", guardian.subject, "writer")
    [grant] = _view(api.get(f"/stafettlogger/{log_id}", guardian)).key_grants
    context = KeyGrantContext(log_id, 1, "person", guardian.subject)
    assert unwrap_epoch_key(grant.wrapped_key, guardian.keys, context) == key


def test_only_the_coordinator_adds_participants(api: LoggApi) -> None:
    coordinator, writer = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(writer, "person", "writer")])

    response = api.post(
        f"/stafettlogger/{log_id}/participants",
        participant_body(log_id, key, Actor.guardian()),
        writer,
    )

    assert response.status_code == 403
    assert response.json()["type"] == "urn:stafettlogg:problem:coordinator-only"


def test_adding_the_same_participant_again_is_idempotent_or_conflicts(api: LoggApi) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator)
    request = participant_body(log_id, key, guardian, role="reader")
    path = f"/stafettlogger/{log_id}/participants"

    assert api.post(path, request, coordinator).status_code == 201
    assert api.post(path, request, coordinator).status_code == 200
    other_role = participant_body(log_id, key, guardian, role="writer")
    conflict = api.post(path, other_role, coordinator)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:stafettlogg:problem:participant-exists"
    rewrapped = participant_body(log_id, key, guardian, role="reader")
    assert api.post(path, rewrapped, coordinator).status_code == 409


def test_participant_grants_must_be_for_them_and_for_existing_epochs(api: LoggApi) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator)
    path = f"/stafettlogger/{log_id}/participants"
    base = participant_body(log_id, key, guardian)
    for grants in (
        [wrap_grant(log_id, key, Actor.guardian())],
        [wrap_grant(log_id, key, guardian, epoch=2)],
        [*base.key_grants, *base.key_grants],
    ):
        bad = msgspec.structs.replace(base, key_grants=grants)
        response = api.post(path, bad, coordinator)
        assert response.status_code == 400
        assert response.json()["type"] == "urn:stafettlogg:problem:invalid-key-grant"


def test_adding_to_an_unknown_log_is_not_found(api: LoggApi) -> None:
    coordinator = Actor.staff()
    request = participant_body("nope", b"k" * 32, Actor.guardian())

    response = api.post("/stafettlogger/nope/participants", request, coordinator)

    assert response.status_code == 404


_ = (NewKeyGrant, NewStafettlogg)
