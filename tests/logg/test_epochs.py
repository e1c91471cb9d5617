"""Key epochs: a participant leaving (removed, consent withdrawn or expired) makes logg delete
their grants and refuse entries until the next epoch is granted to exactly those who remain."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.exceptions import InvalidTag
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from services.logg.models import EntryRow, KeyGrantRow
from services.logg.sealing import decode_sealed
from services.logg.settings import Settings
from shared.crypto.envelope import EnvelopeError, SealedEnvelope, new_epoch_key, open_envelope
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from shared.wire import (
    NewEpoch,
    NewKeyGrants,
    NewParticipant,
    NewParticipantRequest,
    WithdrawalRequest,
)
from tests.logg.helpers import Actor, LoggApi, consent_body, entry_body, wrap_grant

_PROBLEM = "urn:stafettlogg:problem:"


def _world(api: LoggApi) -> tuple[str, bytes, Actor, Actor, Actor, Actor]:
    """A log with a coordinator, a guardian, and two service units with valid consent."""
    coordinator, guardian, school, health = (
        Actor.staff(),
        Actor.guardian(),
        Actor.staff(),
        Actor.staff(),
    )
    log_id, key = api.create(
        coordinator,
        [
            (guardian, "person", "writer"),
            (school, "service", "writer"),
            (health, "service", "writer"),
        ],
    )
    for unit in (school, health):
        assert unit.service is not None
        api.consent(log_id, coordinator, key, unit.service)
    return log_id, key, coordinator, guardian, school, health


def _withdraw_all(api: LoggApi, log_id: str, guardian: Actor, service: str) -> None:
    consents = api.get(f"/stafettlogger/{log_id}/consents", guardian).json()["items"]
    for consent in consents:
        if consent["service_id"] == service and consent["status"] == "given":
            response = api.post(
                f"/stafettlogger/{log_id}/consents/{consent['id']}/withdraw",
                WithdrawalRequest(method="portal"),
                guardian,
            )
            assert response.status_code == 200, response.text


def _status(api: LoggApi, log_id: str, actor: Actor) -> dict[str, object]:
    response = api.get(f"/stafettlogger/{log_id}/epochs", actor)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def _remove(api: LoggApi, log_id: str, coordinator: Actor, kind: str, rid: str) -> None:
    response = api.client.delete(
        f"/stafettlogger/{log_id}/participants/{kind}/{rid}",
        headers=api.minter.headers(coordinator),
    )
    assert response.status_code == 204, response.text


def _grants(api: LoggApi, log_id: str, actor: Actor) -> list[dict[str, object]]:
    grants: list[dict[str, object]] = api.get(f"/stafettlogger/{log_id}", actor).json()[
        "key_grants"
    ]
    return grants


def test_nothing_is_due_while_everyone_remains(api: LoggApi) -> None:
    log_id, key, coordinator, *_ = _world(api)

    status = _status(api, log_id, coordinator)

    assert (status["current_epoch"], status["rotation_required"]) == (1, False)
    written = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(coordinator, log_id, key), coordinator
    )
    assert written.status_code == 201


def test_removing_a_participant_deletes_their_grants_and_refuses_entries_until_rotation(
    api: LoggApi,
) -> None:
    log_id, key, coordinator, guardian, school, health = _world(api)
    assert _grants(api, log_id, guardian)

    _remove(api, log_id, coordinator, "person", guardian.subject)

    status = _status(api, log_id, coordinator)
    assert status["rotation_required"] is True
    assert {"kind": "person", "id": guardian.subject} not in status["recipients"]  # type: ignore[operator]
    refused = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(coordinator, log_id, key), coordinator
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == _PROBLEM + "epoch-rotation-required"

    epoch, new_key = api.rotate(log_id, coordinator, [coordinator, school, health])

    assert epoch == 2
    assert _status(api, log_id, coordinator)["rotation_required"] is False
    old = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(coordinator, log_id, key), coordinator
    )
    assert old.status_code == 400  # the old epoch is over
    new = api.post(
        f"/stafettlogger/{log_id}/entries",
        entry_body(coordinator, log_id, new_key, epoch=2),
        coordinator,
    )
    assert new.status_code == 201, new.text
    grants = _grants(api, log_id, coordinator)
    assert sorted(int(str(g["epoch"])) for g in grants) == [1, 2]  # history stays readable


def test_a_withdrawn_consent_deletes_the_services_grants_and_requires_rotation(
    api: LoggApi,
) -> None:
    log_id, key, coordinator, guardian, school, health = _world(api)
    assert school.service is not None

    _withdraw_all(api, log_id, guardian, school.service)

    status = _status(api, log_id, guardian)
    assert status["rotation_required"] is True
    assert {"kind": "service", "id": school.service} not in status["recipients"]  # type: ignore[operator]
    refused = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(guardian, log_id, key), guardian
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == _PROBLEM + "epoch-rotation-required"
    epoch, _ = api.rotate(log_id, guardian, [coordinator, guardian, health])  # a guardian may
    assert epoch == 2


def test_an_expired_consent_makes_rotation_due_without_any_event(api: LoggApi) -> None:
    coordinator, school = Actor.staff(), Actor.staff()
    assert school.service is not None
    log_id, key = api.create(coordinator, [(school, "service", "writer")])
    now = datetime.now(UTC)
    api.consent(
        log_id,
        coordinator,
        key,
        school.service,
        valid_from=now - timedelta(days=30),
        valid_until=now - timedelta(seconds=1),
    )

    assert _status(api, log_id, coordinator)["rotation_required"] is True
    refused = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(coordinator, log_id, key), coordinator
    )
    assert refused.status_code == 409
    api.rotate(log_id, coordinator, [coordinator])
    assert _status(api, log_id, coordinator)["rotation_required"] is False


def test_a_service_still_waiting_for_consent_has_not_left(api: LoggApi) -> None:
    coordinator, school = Actor.staff(), Actor.staff()
    assert school.service is not None
    log_id, _ = api.create(coordinator, [(school, "service", "writer")])

    status = _status(api, log_id, coordinator)

    assert status["rotation_required"] is False
    assert {"kind": "service", "id": school.service} in status["recipients"]  # type: ignore[operator]


def test_the_grants_must_cover_exactly_those_who_remain(api: LoggApi) -> None:
    log_id, _, coordinator, guardian, school, health = _world(api)
    assert school.service is not None
    assert health.service is not None
    _withdraw_all(api, log_id, guardian, school.service)
    key = new_epoch_key()
    path = f"/stafettlogger/{log_id}/epochs"
    remaining = [
        wrap_grant(log_id, key, coordinator, epoch=2),
        wrap_grant(log_id, key, guardian, epoch=2),
        wrap_grant(log_id, key, health, kind="service", epoch=2),
    ]
    leaver = wrap_grant(log_id, key, school, kind="service", epoch=2)

    with_leaver = api.post(path, NewEpoch(2, [*remaining, leaver]), coordinator)
    missing_one = api.post(path, NewEpoch(2, remaining[:2]), coordinator)
    wrong_epoch = api.post(
        path,
        NewEpoch(2, [*remaining[:2], wrap_grant(log_id, key, health, kind="service")]),
        coordinator,
    )
    twice = api.post(path, NewEpoch(2, [*remaining, remaining[0]]), coordinator)

    for response in (with_leaver, missing_one, wrong_epoch, twice):
        assert response.status_code == 400, response.text
        assert response.json()["type"] == _PROBLEM + "invalid-key-grant"
    assert _status(api, log_id, coordinator)["current_epoch"] == 1
    assert api.post(path, NewEpoch(2, remaining), coordinator).status_code == 201


def test_rotation_is_idempotent_on_the_epoch_number(api: LoggApi) -> None:
    log_id, _, coordinator, guardian, school, health = _world(api)
    key = new_epoch_key()
    grants = [
        wrap_grant(log_id, key, coordinator, epoch=2),
        wrap_grant(log_id, key, guardian, epoch=2),
        wrap_grant(log_id, key, school, kind="service", epoch=2),
        wrap_grant(log_id, key, health, kind="service", epoch=2),
    ]
    path = f"/stafettlogger/{log_id}/epochs"

    first = api.post(path, NewEpoch(2, grants), coordinator)
    again = api.post(path, NewEpoch(2, grants), coordinator)
    other = api.post(
        path,
        NewEpoch(
            2, [*grants[:3], wrap_grant(log_id, new_epoch_key(), health, kind="service", epoch=2)]
        ),
        coordinator,
    )
    later = new_epoch_key()
    skipping = api.post(
        path,
        NewEpoch(
            4,
            [
                wrap_grant(log_id, later, coordinator, epoch=4),
                wrap_grant(log_id, later, guardian, epoch=4),
            ],
        ),
        coordinator,
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["current_epoch"] == 2
    assert other.status_code == 409
    assert other.json()["type"] == _PROBLEM + "epoch-conflict"
    assert (skipping.status_code, skipping.json()["type"]) == (409, _PROBLEM + "epoch-conflict")
    assert _status(api, log_id, coordinator)["current_epoch"] == 2


def test_only_participants_who_may_write_start_an_epoch(api: LoggApi) -> None:
    coordinator, reader, outsider = Actor.staff(), Actor.staff(), Actor.staff()
    assert reader.service is not None
    log_id, key = api.create(coordinator, [(reader, "service", "reader")])
    api.consent(log_id, coordinator, key, reader.service)
    body = NewEpoch(
        2,
        [
            wrap_grant(log_id, new_epoch_key(), coordinator, epoch=2),
            wrap_grant(log_id, new_epoch_key(), reader, kind="service", epoch=2),
        ],
    )

    as_reader = api.post(f"/stafettlogger/{log_id}/epochs", body, reader)
    as_outsider = api.post(f"/stafettlogger/{log_id}/epochs", body, outsider)

    assert (as_reader.status_code, as_reader.json()["type"]) == (403, _PROBLEM + "read-only")
    assert (as_outsider.status_code, as_outsider.json()["type"]) == (
        403,
        _PROBLEM + "not-a-participant",
    )
    records = api.get(f"/stafettlogger/{log_id}/access-records", coordinator).json()["items"]
    assert any(r["action"] == "rotate-epoch" and r["decision"] == "denied" for r in records)


async def _copy_of_database(url: str) -> tuple[list[KeyGrantRow], list[EntryRow]]:
    """Everything a thief of logg's database gets: every key grant and every entry."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            grants = (await connection.execute(select(KeyGrantRow.__table__))).all()
            entries = (await connection.execute(select(EntryRow.__table__))).all()
    finally:
        await engine.dispose()
    return [KeyGrantRow(**row._mapping) for row in grants], [
        EntryRow(**row._mapping) for row in entries
    ]


def test_a_withdrawn_service_with_the_whole_database_and_all_its_keys_reads_nothing_new(
    api: LoggApi, logg_settings: Settings
) -> None:
    """The decisive property: the leaver keeps a full copy of logg's database taken after the
    new entries were written, and every private key it ever had; it opens every grant it can
    and tries every epoch key it learns on every entry. Nothing written after its withdrawal
    opens; everything before still does (it could read that already)."""
    log_id, key1, coordinator, guardian, school, health = _world(api)
    assert school.service is not None
    before = entry_body(coordinator, log_id, key1, plaintext=b"before the withdrawal")
    assert api.post(f"/stafettlogger/{log_id}/entries", before, coordinator).status_code == 201
    _withdraw_all(api, log_id, guardian, school.service)
    epoch, key2 = api.rotate(log_id, coordinator, [coordinator, guardian, health])
    secret = b"written after the withdrawal"
    after = entry_body(coordinator, log_id, key2, epoch=epoch, plaintext=secret)
    assert api.post(f"/stafettlogger/{log_id}/entries", after, coordinator).status_code == 201

    grants, entries = asyncio.run(_copy_of_database(logg_settings.database_url))

    leaver_keys = [school.keys]  # its service's key and its staff's own (one pair in the tests)
    learned: set[bytes] = set()
    for grant in grants:
        for keys in leaver_keys:
            for kind, rid in (("service", school.service), ("person", school.subject)):
                context = KeyGrantContext(log_id, grant.epoch, kind, rid)
                try:
                    learned.add(unwrap_epoch_key(grant.wrapped_key, keys, context))
                except (InvalidTag, ValueError):
                    continue
    learned.add(key1)  # it opened epoch 1 while it took part, and kept the key
    assert key2 not in learned
    assert not any(g.recipient_id == school.service for g in grants)  # its grants are gone
    sign_key = coordinator.keys.signing_key().public_key()
    opened: list[bytes] = []
    new_rows = [row for row in entries if row.epoch == epoch]
    assert new_rows
    for row in entries:
        for epoch_key in learned:
            try:
                opened.append(
                    open_envelope(
                        decode_sealed(row.sealed), epoch_key=epoch_key, author_public=sign_key
                    )
                )
            except EnvelopeError:
                continue
    assert secret not in opened
    assert b"before the withdrawal" in opened  # old entries: what it could read already
    # Those who remain read the new entry with the new epoch's key.
    health_grant = next(g for g in grants if g.epoch == epoch and g.recipient_id == health.service)
    assert health.service is not None
    opened_key = unwrap_epoch_key(
        health_grant.wrapped_key,
        health.keys,
        KeyGrantContext(log_id, epoch, "service", health.service),
    )
    new_row = next(row for row in new_rows if row.id == after.sealed.header.entry_id)
    assert (
        open_envelope(decode_sealed(new_row.sealed), epoch_key=opened_key, author_public=sign_key)
        == secret
    )


def test_removing_a_service_participant_also_deletes_its_grants(
    api: LoggApi, logg_settings: Settings
) -> None:
    log_id, _, coordinator, _, school, _ = _world(api)
    assert school.service is not None

    _remove(api, log_id, coordinator, "service", school.service)

    grants, _ = asyncio.run(_copy_of_database(logg_settings.database_url))
    assert [
        g for g in grants if g.stafettlogg_id == log_id and g.recipient_id == school.service
    ] == []
    assert _status(api, log_id, coordinator)["rotation_required"] is True


# --- history by consent, and keys wrapped again when consent is given again ---------------------


def _consent_as_guardian(
    api: LoggApi, log_id: str, guardian: Actor, service: str, *, history: bool
) -> dict[str, object]:
    body = msgspec.structs.replace(consent_body(service), history=history)
    response = api.post(f"/stafettlogger/{log_id}/consents", body, guardian)
    assert response.status_code == 201, response.text
    view: dict[str, object] = response.json()
    return view


def _log_in_epoch_two(api: LoggApi) -> tuple[str, bytes, bytes, Actor, Actor]:
    """A log whose first epoch holds an entry, now in epoch 2 (a guardian removed); returns the
    id, both epoch keys, the coordinator and the remaining guardian."""
    coordinator, guardian, leaver = Actor.staff(), Actor.guardian(), Actor.guardian()
    log_id, key1 = api.create(
        coordinator, [(guardian, "person", "writer"), (leaver, "person", "writer")]
    )
    old = entry_body(coordinator, log_id, key1, plaintext=b"written in epoch 1")
    assert api.post(f"/stafettlogger/{log_id}/entries", old, coordinator).status_code == 201
    _remove(api, log_id, coordinator, "person", leaver.subject)
    _, key2 = api.rotate(log_id, coordinator, [coordinator, guardian])
    return log_id, key1, key2, coordinator, guardian


def _school_with_both_epochs(
    log_id: str, key1: bytes, key2: bytes, school: Actor
) -> NewParticipantRequest:
    """Add the school's service unit as a writer, with its key grants for epochs 1 and 2."""
    assert school.service is not None
    return NewParticipantRequest(
        participant=NewParticipant(kind="service", principal_id=school.service, role="writer"),
        key_grants=[
            wrap_grant(log_id, key1, school, kind="service", epoch=1),
            wrap_grant(log_id, key2, school, kind="service", epoch=2),
        ],
    )


def test_a_service_without_consent_to_history_gets_no_key_for_earlier_epochs(
    api: LoggApi,
) -> None:
    log_id, key1, key2, coordinator, guardian = _log_in_epoch_two(api)
    school = Actor.staff()
    assert school.service is not None
    view = _consent_as_guardian(api, log_id, guardian, school.service, history=False)
    both = _school_with_both_epochs(log_id, key1, key2, school)

    refused = api.post(f"/stafettlogger/{log_id}/participants", both, coordinator)
    current_only = msgspec.structs.replace(both, key_grants=both.key_grants[1:])
    added = api.post(f"/stafettlogger/{log_id}/participants", current_only, coordinator)

    assert view["history"] is False
    assert (refused.status_code, refused.json()["type"]) == (
        400,
        _PROBLEM + "history-not-consented",
    )
    assert added.status_code == 201, added.text
    assert [g["epoch"] for g in _grants(api, log_id, school)] == [2]
    earlier = NewKeyGrants(
        recipient_kind="service",
        recipient_id=school.service,
        key_grants=[*both.key_grants],
    )
    again = api.post(f"/stafettlogger/{log_id}/key-grants", earlier, guardian)
    assert (again.status_code, again.json()["type"]) == (400, _PROBLEM + "history-not-consented")


def test_a_service_whose_consent_allows_history_reads_earlier_epochs(api: LoggApi) -> None:
    log_id, key1, key2, coordinator, guardian = _log_in_epoch_two(api)
    school = Actor.staff()
    assert school.service is not None
    view = _consent_as_guardian(api, log_id, guardian, school.service, history=True)
    body = _school_with_both_epochs(log_id, key1, key2, school)

    added = api.post(f"/stafettlogger/{log_id}/participants", body, coordinator)

    assert view["history"] is True
    assert added.status_code == 201, added.text
    grants = _grants(api, log_id, school)
    assert sorted(g["epoch"] for g in grants) == [1, 2]  # type: ignore[type-var]
    first = next(g for g in grants if g["epoch"] == 1)
    opened_key = unwrap_epoch_key(
        base64.b64decode(str(first["wrapped_key"])),
        school.keys,
        KeyGrantContext(log_id, 1, "service", school.service),
    )
    [row] = api.get(f"/stafettlogger/{log_id}/entries", school).json()["items"]
    sealed = msgspec.convert(row["sealed"], type=SealedEnvelope, strict=False)
    sign_key = coordinator.keys.signing_key().public_key()
    assert open_envelope(sealed, epoch_key=opened_key, author_public=sign_key) == (
        b"written in epoch 1"
    )


def test_consent_given_again_lets_the_current_key_be_wrapped_for_the_service_at_once(
    api: LoggApi,
) -> None:
    """A service's consent is withdrawn (its grants deleted, a new epoch begins without it),
    then given again: a guardian wraps the current epoch's key for it, and it reads the entries
    of that epoch without waiting for another rotation."""
    log_id, _, coordinator, guardian, school, health = _world(api)
    assert school.service is not None
    _withdraw_all(api, log_id, guardian, school.service)
    epoch, key2 = api.rotate(log_id, coordinator, [coordinator, guardian, health])
    secret = b"written while the school was away"
    body = entry_body(coordinator, log_id, key2, epoch=epoch, plaintext=secret)
    assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201
    request = NewKeyGrants(
        recipient_kind="service",
        recipient_id=school.service,
        key_grants=[wrap_grant(log_id, key2, school, kind="service", epoch=epoch)],
    )
    path = f"/stafettlogger/{log_id}/key-grants"

    before = api.post(path, request, guardian)
    _consent_as_guardian(api, log_id, guardian, school.service, history=False)
    granted = api.post(path, request, guardian)
    replay = api.post(path, request, guardian)
    other = msgspec.structs.replace(
        request,
        key_grants=[wrap_grant(log_id, new_epoch_key(), school, kind="service", epoch=epoch)],
    )
    kept = api.post(path, other, guardian)

    assert (before.status_code, before.json()["type"]) == (
        409,
        _PROBLEM + "recipient-not-taking-part",
    )
    assert (granted.status_code, replay.status_code, kept.status_code) == (201, 200, 200)
    assert _status(api, log_id, coordinator)["rotation_required"] is False
    [grant] = _grants(api, log_id, school)  # the first grant, never replaced by the other
    opened_key = unwrap_epoch_key(
        base64.b64decode(str(grant["wrapped_key"])),
        school.keys,
        KeyGrantContext(log_id, epoch, "service", school.service),
    )
    page = api.get(f"/stafettlogger/{log_id}/entries", school).json()["items"]
    row = next(item for item in page if item["id"] == body.sealed.header.entry_id)
    sealed = msgspec.convert(row["sealed"], type=SealedEnvelope, strict=False)
    sign_key = coordinator.keys.signing_key().public_key()
    assert open_envelope(sealed, epoch_key=opened_key, author_public=sign_key) == secret


def test_keys_are_wrapped_only_for_the_named_recipient_and_must_include_the_current_epoch(
    api: LoggApi,
) -> None:
    log_id, key1, key2, coordinator, guardian = _log_in_epoch_two(api)
    path = f"/stafettlogger/{log_id}/key-grants"
    someone = Actor.guardian()
    wrong_recipient = NewKeyGrants(
        recipient_kind="person",
        recipient_id=guardian.subject,
        key_grants=[wrap_grant(log_id, key2, someone, epoch=2)],
    )
    old_only = NewKeyGrants(
        recipient_kind="person",
        recipient_id=guardian.subject,
        key_grants=[wrap_grant(log_id, key1, guardian, epoch=1)],
    )

    for body in (wrong_recipient, old_only):
        response = api.post(path, body, coordinator)
        assert (response.status_code, response.json()["type"]) == (
            400,
            _PROBLEM + "invalid-key-grant",
        )


def test_removal_and_the_next_epoch_never_touch_the_entries(api: LoggApi) -> None:
    """Why removing a participant costs the same for a log of 10 entries as of 100 000 (bench:
    bench/removal.py): no statement of the removal or of the next epoch reads or writes the
    entry table — nothing written before is re-encrypted or even looked at."""
    log_id, key, coordinator, guardian, school, health = _world(api)
    body = entry_body(coordinator, log_id, key)
    assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        _remove(api, log_id, coordinator, "person", guardian.subject)
        api.rotate(log_id, coordinator, [coordinator, school, health])
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    assert any("key_grant" in statement for statement in statements)  # the listener works
    touching = [s for s in statements if re.search(r"\bentry\b(?!_)", s.replace('"', ""))]
    assert touching == []
