"""Every read leaves a record: the list of the caller's logs records each listed log, and a
request that was allowed and then refused for bad input keeps a record saying so."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.exceptions import HTTPException
from sqlalchemy import event
from sqlalchemy.engine import Connection

from services.logg.guard import refusal_reason
from services.logg.settings import Settings
from shared.problems import ProblemError
from shared.wire import AccessRecordPage, AccessRecordView, NewEntry
from tests.logg.helpers import Actor, LoggApi, entry_body, new_id
from tests.logg.test_access_records import _verify


def _records(api: LoggApi, log_id: str, reader: Actor) -> list[AccessRecordView]:
    response = api.get(f"/stafettlogger/{log_id}/access-records", reader, {"limit": 100})
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=AccessRecordPage).items


def test_listing_the_callers_logs_leaves_a_record_in_each_listed_log(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    listed = [api.create(coordinator, [(guardian, "person", "reader")])[0] for _ in range(3)]
    not_listed, _ = api.create(coordinator)  # the guardian takes no part in this one

    response = api.get("/stafettlogger", guardian)

    assert response.status_code == 200, response.text
    assert {item["id"] for item in response.json()["items"]} == set(listed)
    for log_id in listed:
        newest_first = _records(api, log_id, coordinator)
        listing = newest_first[1]  # [0] is the coordinator's own read of the access log
        assert (listing.subject, listing.action, listing.decision, listing.reason) == (
            guardian.subject,
            "read-stafettlogg",
            "allowed",
            "listed",
        )
        assert listing.roles == ["reader"]
    assert all(r.subject != guardian.subject for r in _records(api, not_listed, coordinator))
    assert _verify(logg_settings, monkeypatch) == 0  # the batch extended each chain unbroken


def test_listing_records_a_page_of_logs_in_one_insert(
    api: LoggApi, logg_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = Actor.staff()
    for _ in range(5):
        api.create(coordinator)
    statements: list[str] = []

    def count(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ACCESS_RECORD"):
            statements.append(statement)

    engine = logg_app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = api.get("/stafettlogger", coordinator, {"limit": 4})
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 4
    assert len(statements) == 1  # one INSERT (executemany) for the four records


def test_a_write_refused_for_bad_input_after_it_was_allowed_keeps_a_record(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    dangling = entry_body(guardian, log_id, key, entry_type="correction")
    bad = NewEntry(sealed=dangling.sealed, refers_to=new_id("missing"))

    response = api.post(f"/stafettlogger/{log_id}/entries", bad, guardian)

    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith(":invalid-entry-link")
    record = _records(api, log_id, coordinator)[1]
    assert (record.subject, record.action, record.entry_id) == (
        guardian.subject,
        "write-entry",
        bad.sealed.header.entry_id,
    )
    assert (record.decision, record.reason) == ("denied", "refused:invalid-entry-link")
    assert _verify(logg_settings, monkeypatch) == 0


def test_a_conflicting_entry_id_keeps_a_record_of_the_refusal(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    first = entry_body(coordinator, log_id, key)
    other = entry_body(coordinator, log_id, key, entry_id=first.sealed.header.entry_id)
    assert api.post(f"/stafettlogger/{log_id}/entries", first, coordinator).status_code == 201

    response = api.post(f"/stafettlogger/{log_id}/entries", other, coordinator)

    assert response.status_code == 409, response.text
    newest_first = _records(api, log_id, coordinator)
    refused, written = newest_first[1], newest_first[2]
    assert (refused.decision, refused.reason) == ("denied", "refused:entry-exists")
    assert (written.decision, written.action) == ("allowed", "write-entry")


def test_a_successful_write_leaves_exactly_one_allowed_record(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    entry = entry_body(coordinator, log_id, key)

    assert api.post(f"/stafettlogger/{log_id}/entries", entry, coordinator).status_code == 201

    writes = [r for r in _records(api, log_id, coordinator) if r.action == "write-entry"]
    assert [(r.decision, r.reason) for r in writes] == [("allowed", "allowed")]


def test_the_refusal_reason_names_the_problem_type_and_never_its_text() -> None:
    detail = "echoes what the caller sent: 12345678901"
    assert refusal_reason(ProblemError(400, "invalid-entry-link", "t", detail)) == (
        "refused:invalid-entry-link"
    )
    assert refusal_reason(ProblemError(409, "x" * 100, "t")) == "refused:" + "x" * 56
    assert refusal_reason(HTTPException(status_code=413, detail=detail)) == "refused:413"
    assert refusal_reason(RuntimeError(detail)) == "refused:error"
