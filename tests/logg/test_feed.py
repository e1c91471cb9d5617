"""logg's notification feed: only auth's notifier reads it, its token opens nothing else, it
says who takes part (services only with valid consent) and never any content, it lists measures
due for evaluation that have none yet, and each read leaves a record in the log's access log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from services.logg.access import NOTIFIER_AUDIENCE, NOTIFIER_SUBJECT
from shared.wire import ClosingRequest, NewEntry
from tests.logg.helpers import Actor, LoggApi, TokenMinter, seal

CANARY = b"KANARIFUGL-feed Emma har det vondt"


def notifier_headers(minter: TokenMinter, **overrides: Any) -> dict[str, str]:
    actor = Actor(NOTIFIER_SUBJECT, "staff", None)
    claims: dict[str, Any] = {"aud": NOTIFIER_AUDIENCE, **overrides}
    return minter.headers(actor, **claims)


def write(
    api: LoggApi,
    log_id: str,
    key: bytes,
    author: Actor,
    *,
    entry_type: str = "observation",
    due_on: date | None = None,
    refers_to: str | None = None,
) -> str:
    sealed = seal(author, log_id, key, entry_type=entry_type, plaintext=CANARY)
    body = NewEntry(sealed=sealed, due_on=due_on, refers_to=refers_to)
    answer = api.post(f"/stafettlogger/{log_id}/entries", body, author)
    assert answer.status_code == 201, answer.text
    return sealed.header.entry_id


def feed(client: TestClient[Litestar], minter: TokenMinter, **params: Any) -> Any:
    answer = client.get("/notifications/entries", params=params, headers=notifier_headers(minter))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_new_entries_after_the_cursor_with_participants_and_no_content(
    client: TestClient[Litestar], api: LoggApi, minter: TokenMinter
) -> None:
    coordinator, guardian = Actor.staff("helsestasjon"), Actor.guardian()
    consented, unconsented = Actor.staff("skole"), Actor.staff("ppt")
    log_id, key = api.create(
        coordinator,
        participants=[
            (guardian, "person", "writer"),
            (consented, "service", "reader"),
            (unconsented, "service", "reader"),
        ],
    )
    api.consent(log_id, coordinator, key, "skole")
    old = write(api, log_id, key, coordinator)  # before the notifier starts: never reported
    start = feed(client, minter)  # without a cursor: none, and where "now" is
    assert start["items"] == []
    assert start["cursor"] > 0
    first = write(api, log_id, key, guardian)
    second = write(api, log_id, key, coordinator)
    answer = client.get(
        "/notifications/entries",
        params={"after": start["cursor"]},
        headers=notifier_headers(minter),
    )
    assert answer.status_code == 200, answer.text
    assert CANARY.decode() not in answer.text
    assert "sealed" not in answer.text
    page = answer.json()
    assert [item["entry_id"] for item in page["items"]] == [first, second]
    assert old not in answer.text
    assert page["items"][0]["author"] == guardian.subject
    recipients = {(r["kind"], r["id"]) for r in page["items"][0]["recipients"]}
    # Persons, and the service that may read now; not the one without consent.
    assert recipients == {
        ("person", coordinator.subject),
        ("person", guardian.subject),
        ("service", "skole"),
    }
    assert page["more"] is False
    assert page["cursor"] == page["items"][-1]["seq"]
    assert feed(client, minter, after=page["cursor"])["items"] == []
    one = feed(client, minter, after=start["cursor"], limit=1)
    assert [item["entry_id"] for item in one["items"]] == [first]
    assert one["more"] is True


def test_measures_due_in_the_window_without_an_evaluation(
    client: TestClient[Litestar], api: LoggApi, minter: TokenMinter
) -> None:
    coordinator, guardian = Actor.staff("helsestasjon"), Actor.guardian()
    log_id, key = api.create(coordinator, participants=[(guardian, "person", "writer")])
    today = datetime.now(UTC).date()
    due = write(api, log_id, key, coordinator, entry_type="measure", due_on=today)
    evaluated = write(
        api, log_id, key, coordinator, entry_type="measure", due_on=today + timedelta(days=1)
    )
    write(api, log_id, key, coordinator, entry_type="measure", due_on=today + timedelta(days=30))
    write(api, log_id, key, coordinator, entry_type="meeting", due_on=today)
    write(api, log_id, key, guardian, entry_type="evaluation", refers_to=evaluated)
    answer = client.get(
        "/notifications/due-measures",
        params={"due_from": today.isoformat(), "due_to": (today + timedelta(days=3)).isoformat()},
        headers=notifier_headers(minter),
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["entry_id"], i["due_on"]) for i in items] == [(due, today.isoformat())]
    assert {r["id"] for r in items[0]["recipients"]} == {coordinator.subject, guardian.subject}


def test_a_closed_logs_measures_are_not_due(
    client: TestClient[Litestar], api: LoggApi, minter: TokenMinter
) -> None:
    coordinator = Actor.staff("helsestasjon")
    log_id, key = api.create(coordinator)
    today = datetime.now(UTC).date()
    write(api, log_id, key, coordinator, entry_type="measure", due_on=today)
    params = {"due_from": today.isoformat(), "due_to": today.isoformat()}
    headers = notifier_headers(minter)
    assert (
        len(
            client.get("/notifications/due-measures", params=params, headers=headers).json()[
                "items"
            ]
        )
        == 1
    )
    note = seal(coordinator, log_id, key, entry_type="closing_note")
    closed = api.post(
        f"/stafettlogger/{log_id}/close", ClosingRequest(closing_note=note), coordinator
    )
    assert closed.status_code == 200, closed.text
    after = client.get(
        "/notifications/due-measures", params=params, headers=notifier_headers(minter)
    )
    assert after.status_code == 200
    assert after.json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"due_from": "2026-01-10", "due_to": "2026-01-01"},
        {"due_from": "2026-01-01", "due_to": "2028-01-01"},
        {"due_from": "i morgen", "due_to": "2026-01-01"},
        {"due_from": "2026-01-01"},
        {"due_from": "2026-01-01", "due_to": "2026-01-02", "after": "-1"},
        {"due_from": "2026-01-01", "due_to": "2026-01-02", "limit": "501"},
    ],
)
def test_bad_due_windows_are_refused_with_400(
    client: TestClient[Litestar], minter: TokenMinter, params: dict[str, str]
) -> None:
    answer = client.get(
        "/notifications/due-measures", params=params, headers=notifier_headers(minter)
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("params", [{"after": "x"}, {"after": "-5"}, {"limit": "0"}])
def test_bad_cursors_are_refused_with_400(
    client: TestClient[Litestar], minter: TokenMinter, params: dict[str, str]
) -> None:
    answer = client.get("/notifications/entries", params=params, headers=notifier_headers(minter))
    assert answer.status_code == 400, answer.text


def test_a_participants_token_cannot_read_the_feed(
    client: TestClient[Litestar], minter: TokenMinter
) -> None:
    staff, admin = Actor.staff(), Actor.staff()
    for headers in (
        {},
        minter.headers(staff),  # audience stafett-logg
        minter.headers(admin, admin=True),
        minter.headers(Actor(NOTIFIER_SUBJECT, "staff", None)),  # right subject, wrong audience
    ):
        answer = client.get("/notifications/entries", headers=headers)
        assert answer.status_code == 401, answer.text


def test_the_notifier_audience_with_another_subject_is_refused_with_403(
    client: TestClient[Litestar], minter: TokenMinter
) -> None:
    someone = Actor.staff()
    for headers in (
        minter.headers(someone, aud=NOTIFIER_AUDIENCE),
        notifier_headers(minter, service="skole"),
        notifier_headers(minter, admin=True),
    ):
        answer = client.get("/notifications/entries", headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.json()["type"].endswith("notifier-only")


def test_the_notifiers_token_opens_nothing_but_the_feed(
    client: TestClient[Litestar], api: LoggApi, minter: TokenMinter
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    for path in ("/stafettlogger", f"/stafettlogger/{log_id}", f"/stafettlogger/{log_id}/entries"):
        answer = client.get(path, headers=notifier_headers(minter))
        assert answer.status_code == 401, answer.text


def test_each_log_in_an_answer_gets_an_access_record(
    client: TestClient[Litestar], api: LoggApi, minter: TokenMinter
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, participants=[(guardian, "person", "writer")])
    start = feed(client, minter)["cursor"]
    write(api, log_id, key, guardian)
    feed(client, minter, after=start)
    records = api.get(f"/stafettlogger/{log_id}/access-records", guardian).json()["items"]
    reads = [r for r in records if r["action"] == "read-notification-feed"]
    assert len(reads) == 1
    assert reads[0]["subject"] == NOTIFIER_SUBJECT
    assert reads[0]["decision"] == "allowed"
