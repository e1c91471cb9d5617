"""Writing sealed entries and reading them back a page at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from shared.crypto.envelope import MAX_CIPHERTEXT, open_envelope
from shared.wire import (
    ENTRY_TYPES,
    MAX_ENTRY_FILTER_IDS,
    AccessRecordPage,
    EntryPage,
    EntryView,
    NewEntry,
)
from tests.logg.helpers import Actor, LoggApi, entry_body, rfc3339, seal


def _entries(api: LoggApi, log_id: str, actor: Actor, **params: object) -> EntryPage:
    response = api.get(f"/stafettlogger/{log_id}/entries", actor, dict(params))
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=EntryPage)


def test_a_writer_adds_an_entry_that_a_reader_can_open(api: LoggApi) -> None:
    coordinator, writer, reader = Actor.staff(), Actor.guardian(), Actor.guardian()
    log_id, key = api.create(
        coordinator, [(writer, "person", "writer"), (reader, "person", "reader")]
    )
    body = entry_body(writer, log_id, key, plaintext=b"Vi hadde et godt mote.")

    response = api.post(f"/stafettlogger/{log_id}/entries", body, writer)

    assert response.status_code == 201
    stored = msgspec.json.decode(response.content, type=EntryView)
    assert stored.id == body.sealed.header.entry_id
    [item] = _entries(api, log_id, reader).items
    assert item.sealed == body.sealed
    public = writer.keys.public().signing_key()
    assert open_envelope(item.sealed, epoch_key=key, author_public=public) == (
        b"Vi hadde et godt mote."
    )


def test_the_coordinator_can_write_and_a_reader_cannot(api: LoggApi) -> None:
    coordinator, reader = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(reader, "person", "reader")])
    path = f"/stafettlogger/{log_id}/entries"

    assert api.post(path, entry_body(coordinator, log_id, key), coordinator).status_code == 201
    refused = api.post(path, entry_body(reader, log_id, key), reader)

    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:stafettlogg:problem:read-only"


def test_a_non_participant_can_neither_write_nor_read_entries(api: LoggApi) -> None:
    log_id, key = api.create(Actor.staff())
    outsider = Actor.staff()
    path = f"/stafettlogger/{log_id}/entries"

    assert api.post(path, entry_body(outsider, log_id, key), outsider).status_code == 403
    refused = api.get(path, outsider)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:stafettlogg:problem:not-a-participant"
    assert api.get("/stafettlogger/unknown/entries", outsider).status_code == 404


def test_staff_write_through_a_service_with_the_writer_role(api: LoggApi) -> None:
    school, coordinator = Actor.staff(), Actor.staff()
    log_id, key = api.create(coordinator, [(school, "service", "writer")])
    assert school.service is not None
    api.consent(log_id, coordinator, key, school.service)
    teacher = Actor.staff(service=school.service)

    response = api.post(
        f"/stafettlogger/{log_id}/entries", entry_body(teacher, log_id, key), teacher
    )

    assert response.status_code == 201


def test_a_forged_signature_is_refused(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    impostor = Actor(coordinator.subject, "staff", coordinator.service)  # same subject, other key
    forged = entry_body(impostor, log_id, key)

    response = api.post(f"/stafettlogger/{log_id}/entries", forged, coordinator)

    assert response.status_code == 400
    assert response.json()["type"] == "urn:stafettlogg:problem:invalid-signature"
    assert _entries(api, log_id, coordinator).items == []


def test_an_altered_ciphertext_is_refused(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    sealed = seal(coordinator, log_id, key)
    altered = msgspec.structs.replace(sealed, ciphertext=sealed.ciphertext[:-1] + b"\x00")

    response = api.post(f"/stafettlogger/{log_id}/entries", NewEntry(altered), coordinator)

    assert response.status_code == 400
    assert response.json()["type"] == "urn:stafettlogg:problem:invalid-signature"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"stafettlogg_id": "another-log"}, "header-mismatch"),
        ({"header_author": "someone-else"}, "header-mismatch"),
        ({"epoch": 2}, "wrong-epoch"),
        ({"entry_type": "description"}, "header-mismatch"),
        ({"entry_type": "gossip"}, "header-mismatch"),
        ({"entry_id": "has space"}, "header-mismatch"),
        ({"entry_id": "x" * 65}, "header-mismatch"),
        ({"created_at": "yesterday"}, "header-mismatch"),
        ({"created_at": "2025-01-01T12:00:00"}, "header-mismatch"),  # no offset
        ({"created_at": timedelta(minutes=-11)}, "clock-skew"),  # from now, when the test runs
        ({"created_at": timedelta(minutes=11)}, "clock-skew"),
    ],
)
def test_header_mismatches_are_refused(
    api: LoggApi, change: dict[str, object], problem: str
) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    target = str(change.pop("stafettlogg_id", log_id))
    if isinstance(change.get("created_at"), timedelta):
        change["created_at"] = rfc3339(datetime.now(UTC) + change["created_at"])  # type: ignore[operator]
    sealed = seal(coordinator, target, key, **change)  # type: ignore[arg-type]

    response = api.post(f"/stafettlogger/{log_id}/entries", NewEntry(sealed), coordinator)

    assert response.status_code == 400
    assert response.json()["type"] == f"urn:stafettlogg:problem:{problem}"


def test_a_time_within_ten_minutes_with_an_offset_is_accepted(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    oslo = datetime.now(UTC).astimezone().replace(microsecond=0) - timedelta(minutes=9)
    body = entry_body(coordinator, log_id, key, created_at=oslo.isoformat())

    assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201


def test_retrying_an_entry_returns_it_and_another_body_under_its_id_conflicts(
    api: LoggApi,
) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    path = f"/stafettlogger/{log_id}/entries"
    body = entry_body(coordinator, log_id, key, entry_id="entry-1")

    first = api.post(path, body, coordinator)
    retry = api.post(path, body, coordinator)
    other = api.post(path, entry_body(coordinator, log_id, key, entry_id="entry-1"), coordinator)

    assert (first.status_code, retry.status_code, other.status_code) == (201, 200, 409)
    assert other.json()["type"] == "urn:stafettlogg:problem:entry-exists"
    assert retry.json()["stored_at"] == first.json()["stored_at"]
    assert len(_entries(api, log_id, coordinator).items) == 1


def test_an_oversized_ciphertext_is_refused_before_it_is_stored(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    body = entry_body(coordinator, log_id, key, plaintext=b"x" * (MAX_CIPHERTEXT + 1))

    response = api.post(f"/stafettlogger/{log_id}/entries", body, coordinator)

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


def test_entries_page_newest_first_through_the_cursor(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    ids = [f"entry-{n}" for n in range(7)]
    for entry_id in ids:
        body = entry_body(coordinator, log_id, key, entry_id=entry_id)
        assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, object] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = _entries(api, log_id, coordinator, **params)
        pages += 1
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == list(reversed(ids))
    assert pages == 3


def test_the_default_page_is_twenty_and_an_empty_log_has_no_cursor(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    assert _entries(api, log_id, coordinator) == EntryPage(items=[], next_cursor=None)
    for n in range(21):
        body = entry_body(coordinator, log_id, key, entry_id=f"e{n}")
        api.post(f"/stafettlogger/{log_id}/entries", body, coordinator)

    page = _entries(api, log_id, coordinator)

    assert len(page.items) == 20
    assert page.next_cursor is not None


@pytest.mark.parametrize("cursor", ["not a cursor", "AAAA", "czE6LTE", "x" * 40, "czE6MTIzYQ"])
def test_an_invalid_cursor_is_a_bad_request(api: LoggApi, cursor: str) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)

    response = api.get(f"/stafettlogger/{log_id}/entries", coordinator, {"cursor": cursor})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_entry_page_limits_are_bounded(api: LoggApi, limit: str) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)

    response = api.get(f"/stafettlogger/{log_id}/entries", coordinator, {"limit": limit})

    assert response.status_code == 400


def _write(
    api: LoggApi,
    log_id: str,
    key: bytes,
    author: Actor,
    entry_id: str,
    entry_type: str,
    refers_to: str | None = None,
) -> None:
    due_on = date(2026, 3, 1) if entry_type in {"measure", "meeting"} else None
    sealed = seal(author, log_id, key, entry_id=entry_id, entry_type=entry_type)
    body = NewEntry(sealed=sealed, refers_to=refers_to, due_on=due_on)
    response = api.post(f"/stafettlogger/{log_id}/entries", body, author)
    assert response.status_code == 201, response.text


def _linked_log(api: LoggApi) -> tuple[str, Actor]:
    """goal g; measures m1, m2 for it; evaluation e1 of m1; message x; correction c1 of x;
    meeting t; minutes r of t (in this order)."""
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    for entry_id, entry_type, refers_to in [
        ("g", "goal", None),
        ("m1", "measure", "g"),
        ("m2", "measure", "g"),
        ("e1", "evaluation", "m1"),
        ("x", "message", None),
        ("c1", "correction", "x"),
        ("t", "meeting", None),
        ("r", "minutes", "t"),
    ]:
        _write(api, log_id, key, coordinator, entry_id, entry_type, refers_to)
    return log_id, coordinator


def _ids(page: EntryPage) -> list[str]:
    return [item.id for item in page.items]


def test_entries_filtered_by_type_come_newest_first(api: LoggApi) -> None:
    log_id, coordinator = _linked_log(api)

    page = _entries(api, log_id, coordinator, type=["goal", "measure", "meeting"])

    assert _ids(page) == ["t", "m2", "m1", "g"]
    assert _ids(_entries(api, log_id, coordinator, type="measure")) == ["m2", "m1"]
    assert _ids(_entries(api, log_id, coordinator, type="concern")) == []


def test_entries_that_refer_to_given_entries(api: LoggApi) -> None:
    log_id, coordinator = _linked_log(api)

    page = _entries(api, log_id, coordinator, refers_to=["m1", "m2", "x", "t"])

    assert _ids(page) == ["r", "c1", "e1"]
    assert _ids(_entries(api, log_id, coordinator, refers_to="g")) == ["m2", "m1"]
    assert _ids(_entries(api, log_id, coordinator, refers_to="nothing")) == []


def test_entries_by_id_skip_ids_the_log_does_not_hold(api: LoggApi) -> None:
    log_id, coordinator = _linked_log(api)
    other_id, _ = api.create(coordinator)

    page = _entries(api, log_id, coordinator, id=["x", "g", "unknown", "g"])

    assert _ids(page) == ["x", "g"]
    assert _ids(_entries(api, other_id, coordinator, id=["x", "g"])) == []


def test_filters_combine_and_page_through_the_cursor(api: LoggApi) -> None:
    log_id, coordinator = _linked_log(api)

    both = _entries(api, log_id, coordinator, refers_to=["g", "x"], type="measure")
    assert _ids(both) == ["m2", "m1"]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, object] = {"type": ["goal", "measure", "minutes"], "limit": 2}
        page = _entries(api, log_id, coordinator, **params | ({"cursor": cursor} if cursor else {}))
        seen += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["r", "m2", "m1", "g"]


def test_a_filtered_read_is_recorded_in_the_access_log_like_any_read(api: LoggApi) -> None:
    log_id, coordinator = _linked_log(api)
    outsider = Actor.guardian()

    assert api.get(f"/stafettlogger/{log_id}/entries", outsider, {"id": "x"}).status_code == 403
    _entries(api, log_id, coordinator, id="x")

    response = api.get(f"/stafettlogger/{log_id}/access-records", coordinator)
    records = msgspec.json.decode(response.content, type=AccessRecordPage).items
    assert [(r.action, r.decision) for r in records[1:3]] == [
        ("read-entries", "allowed"),
        ("read-entries", "denied"),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "level_changes"},
        {"type": ["goal", "nonsense"]},
        {"id": "not an id"},
        {"id": ""},
        {"refers_to": "x" * 65},
        {"refers_to": [f"e{n}" for n in range(MAX_ENTRY_FILTER_IDS + 1)]},
        {"id": [f"e{n}" for n in range(MAX_ENTRY_FILTER_IDS + 1)]},
    ],
)
def test_an_invalid_entry_filter_is_a_bad_request(api: LoggApi, params: dict[str, object]) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)

    response = api.get(f"/stafettlogger/{log_id}/entries", coordinator, params)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_hundred_ids_are_accepted(api: LoggApi) -> None:
    log_id, coordinator = _linked_log(api)
    ids = ["m1", "m2", *(f"n{n}" for n in range(MAX_ENTRY_FILTER_IDS - 2))]
    targets = ["g", *(f"n{n}" for n in range(MAX_ENTRY_FILTER_IDS - 1))]

    assert _ids(_entries(api, log_id, coordinator, id=ids, refers_to=targets)) == ["m2", "m1"]


def test_the_filters_are_documented_in_openapi(client: TestClient[Litestar]) -> None:
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/stafettlogger/{stafettlogg_id}/entries"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}

    assert parameters["type"]["schema"]["type"] == "array"
    assert parameters["type"]["schema"]["items"]["enum"] == list(ENTRY_TYPES)
    for name in ("id", "refers_to"):
        schema = parameters[name]["schema"]
        assert schema["maxItems"] == MAX_ENTRY_FILTER_IDS
        assert schema["items"]["pattern"] == "^[A-Za-z0-9_-]+$"
        assert parameters[name]["required"] is False
