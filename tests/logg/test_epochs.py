"""Key epochs: a participant leaving (removed, consent withdrawn or expired) makes logg delete
their grants and refuse entries until the next epoch is granted to exactly those who remain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.logg.models import EntryRow, KeyGrantRow
from services.logg.sealing import decode_sealed
from services.logg.settings import Settings
from shared.crypto.envelope import EnvelopeError, new_epoch_key, open_envelope
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from shared.wire import NewEpoch, WithdrawalRequest
from tests.logg.helpers import Actor, LoggApi, entry_body, wrap_grant

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
