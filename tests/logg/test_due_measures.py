"""GET /tiltak/forfall: the measures across a caller's logs whose evaluation date has passed or
is near and that have no evaluation yet; consent decides per log, and each log listed leaves an
access record. Also: an answer to a meeting (meeting_response) must refer to a meeting."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.logg import due_measures
from services.logg.access import Policy
from services.logg.due_measures import DuePosition, decode_due_cursor, encode_due_cursor
from services.logg.models import Base, EntryRow, ParticipantRow, StafettloggRow
from shared.tokens import ServiceClaims
from shared.wire import DueMeasurePage, NewEntry, WithdrawalRequest
from tests.logg.helpers import Actor, LoggApi, consent_body, seal

_TODAY = datetime.now(ZoneInfo("Europe/Oslo")).date()
_DUE = "/tiltak/forfall"


def _log_with_school(api: LoggApi) -> tuple[str, bytes, Actor, Actor, Actor]:
    """A log with a guardian and a school service that holds the guardian's consent."""
    coordinator, guardian, school = Actor.staff(), Actor.guardian(), Actor.staff()
    log_id, key = api.create(
        coordinator, [(guardian, "person", "writer"), (school, "service", "writer")]
    )
    assert school.service is not None
    given = api.post(f"/stafettlogger/{log_id}/consents", consent_body(school.service), guardian)
    assert given.status_code == 201, given.text
    return log_id, key, coordinator, guardian, school


def _write(
    api: LoggApi,
    log_id: str,
    key: bytes,
    author: Actor,
    entry_type: str,
    *,
    due_on: date | None = None,
    refers_to: str | None = None,
) -> str:
    sealed = seal(author, log_id, key, entry_type=entry_type)
    body = NewEntry(sealed=sealed, due_on=due_on, refers_to=refers_to)
    response = api.post(f"/stafettlogger/{log_id}/entries", body, author)
    assert response.status_code == 201, response.text
    return sealed.header.entry_id


def _due(api: LoggApi, actor: Actor, **params: object) -> DueMeasurePage:
    response = api.get(_DUE, actor, params=params or None)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=DueMeasurePage)


def test_overdue_and_soon_due_measures_without_evaluation_are_listed_earliest_first(
    api: LoggApi,
) -> None:
    log_a, key_a, coordinator_a, _, school = _log_with_school(api)
    overdue = _write(api, log_a, key_a, school, "measure", due_on=_TODAY - timedelta(days=3))
    soon = _write(api, log_a, key_a, coordinator_a, "measure", due_on=_TODAY + timedelta(days=7))
    _write(api, log_a, key_a, school, "measure", due_on=_TODAY + timedelta(days=8))  # later
    evaluated = _write(api, log_a, key_a, school, "measure", due_on=_TODAY - timedelta(days=9))
    _write(api, log_a, key_a, school, "evaluation", refers_to=evaluated)
    _write(api, log_a, key_a, school, "meeting", due_on=_TODAY)  # a meeting is not a measure
    # A second log where the same school takes part: listed together.
    coordinator_b, guardian_b = Actor.staff(), Actor.guardian()
    log_b, key_b = api.create(
        coordinator_b, [(guardian_b, "person", "writer"), (school, "service", "writer")]
    )
    assert school.service is not None
    consent = consent_body(school.service)
    assert api.post(f"/stafettlogger/{log_b}/consents", consent, guardian_b).status_code == 201
    today_b = _write(api, log_b, key_b, coordinator_b, "measure", due_on=_TODAY)

    page = _due(api, school)

    assert [(item.stafettlogg_id, item.entry.id) for item in page.items] == [
        (log_a, overdue),
        (log_b, today_b),
        (log_a, soon),
    ]
    assert [item.entry.due_on for item in page.items] == sorted(
        item.entry.due_on for item in page.items if item.entry.due_on is not None
    )
    assert sorted(view.id for view in page.stafettlogger) == sorted([log_a, log_b])
    for view in page.stafettlogger:  # each with the caller's key grants only
        assert {(g.recipient_kind, g.recipient_id) for g in view.key_grants} == {
            ("service", school.service)
        }
    assert page.next_cursor is None
    wider = _due(api, school, days=8)
    assert len(wider.items) == 4
    # The coordinator of log b sees only log b's.
    assert [item.entry.id for item in _due(api, coordinator_b).items] == [today_b]


def test_without_valid_consent_a_service_sees_no_due_measures(api: LoggApi) -> None:
    log_id, key, coordinator, guardian, school = _log_with_school(api)
    _write(api, log_id, key, coordinator, "measure", due_on=_TODAY - timedelta(days=1))
    assert len(_due(api, school).items) == 1
    consents = api.get(f"/stafettlogger/{log_id}/consents", guardian).json()["items"]
    withdrawn = api.post(
        f"/stafettlogger/{log_id}/consents/{consents[0]['id']}/withdraw",
        WithdrawalRequest(method="portal"),
        guardian,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert _due(api, school).items == []
    assert _due(api, Actor.staff()).items == []  # takes part in nothing
    assert len(_due(api, guardian).items) == 1  # the family sees its own


def test_each_log_listed_leaves_an_access_record(api: LoggApi) -> None:
    log_id, key, coordinator, _, school = _log_with_school(api)
    _write(api, log_id, key, coordinator, "measure", due_on=_TODAY)
    _due(api, school)
    records = api.get(f"/stafettlogger/{log_id}/access-records", coordinator).json()["items"]
    listed = [r for r in records if r["action"] == "read-due-measures"]
    assert len(listed) == 1
    assert listed[0]["subject"] == school.subject
    assert listed[0]["decision"] == "allowed"


def test_a_closed_log_has_no_due_measures(api: LoggApi) -> None:
    log_id, key, coordinator, _, _ = _log_with_school(api)
    _write(api, log_id, key, coordinator, "measure", due_on=_TODAY)
    note = seal(coordinator, log_id, key, entry_type="closing_note")
    closed = api.post(
        f"/stafettlogger/{log_id}/close",
        msgspec.json.encode({"closing_note": msgspec.to_builtins(note)}),
        coordinator,
    )
    assert closed.status_code == 200, closed.text
    assert _due(api, coordinator).items == []


def test_the_cursor_walks_every_due_measure_once(api: LoggApi) -> None:
    log_id, key, coordinator, _, _ = _log_with_school(api)
    written = [
        _write(api, log_id, key, coordinator, "measure", due_on=_TODAY - timedelta(days=n % 3))
        for n in range(5)
    ]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = _due(api, coordinator, **params)
        seen += [item.entry.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(written)
    assert len(seen) == len(set(seen))


def test_bad_cursors_and_days_are_400_problems(api: LoggApi) -> None:
    actor = Actor.staff()
    for params in ({"cursor": "bm90LWEtY3Vyc29y"}, {"cursor": "!!"}, {"days": 61}, {"days": -1}):
        response = api.get(_DUE, actor, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.client.get(_DUE).status_code == 401


def test_the_cursor_names_a_position_and_nothing_else() -> None:
    position = DuePosition(date(2026, 11, 23), 12345)
    assert decode_due_cursor(encode_due_cursor(position)) == position


def test_an_answer_to_a_meeting_must_refer_to_a_meeting(api: LoggApi) -> None:
    log_id, key, coordinator, guardian, _ = _log_with_school(api)
    meeting = _write(api, log_id, key, coordinator, "meeting", due_on=_TODAY)
    goal = _write(api, log_id, key, coordinator, "goal")
    path = f"/stafettlogger/{log_id}/entries"
    for refers_to in (None, goal):
        answer = NewEntry(seal(guardian, log_id, key, entry_type="meeting_response"), refers_to)
        refused = api.post(path, answer, guardian)
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"].endswith("invalid-entry-link")
    _write(api, log_id, key, guardian, "meeting_response", refers_to=meeting)
    answers = api.get(path, coordinator, params={"refers_to": meeting, "type": "meeting_response"})
    assert [entry["refers_to"] for entry in answers.json()["items"]] == [meeting]


def test_the_due_query_reads_index_ranges_never_every_measure() -> None:
    """EXPLAIN QUERY PLAN (SQLite): the page reads (stafettlogg_id, type, due_on) per log the
    caller takes part in and looks each evaluation up by refers_to; no scan of the entries."""
    plan = asyncio.run(_due_plan())
    assert not any(detail.startswith("SCAN entry") for detail in plan), plan
    assert any("ix_entry_log_type_due" in detail for detail in plan), plan
    assert any("ix_entry_log_refers_to_seq" in detail for detail in plan), plan


async def _due_plan() -> list[str]:
    engine = create_async_engine("sqlite+aiosqlite://")
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        now = datetime.now(UTC)
        async with AsyncSession(engine) as session:
            for n in range(20):
                session.add(
                    StafettloggRow(
                        id=f"log{n}",
                        current_epoch=1,
                        created_at=now,
                        coordinator="c" if n % 2 else "someone-else",
                        sealed_description=b"",
                        request_digest=b"",
                    )
                )
            await session.flush()
            session.add_all(
                ParticipantRow(
                    stafettlogg_id=f"log{n}",
                    kind="person",
                    principal_id="c",
                    role="coordinator",
                    added_at=now,
                )
                for n in range(1, 20, 2)
            )
            session.add_all(
                EntryRow(
                    id=f"e{n}",
                    stafettlogg_id=f"log{n % 20}",
                    epoch=1,
                    author="c",
                    type="measure" if n % 3 else "evaluation",
                    created_at=now,
                    stored_at=now,
                    sealed=b"",
                    author_sign_key=b"",
                    refers_to=f"e{n - 1}" if n % 3 == 0 else None,
                    due_on=_TODAY + timedelta(days=n % 40 - 20) if n % 3 else None,
                )
                for n in range(2000)
            )
            await session.commit()
            claims = ServiceClaims(
                iss="i",
                sub="c",
                aud="a",
                role="staff",
                acr="x",
                sign_key="k",
                jti="j",
                iat=0,
                nbf=0,
                exp=0,
                service="svc",
            )
            statements.clear()
            rows = await due_measures._due_rows(
                session, claims, horizon=_TODAY, after=None, limit=21, policy=Policy()
            )
            assert rows, "the fixture has due measures"
            statement, parameters = statements[-1]
            connection = await session.connection()

            def explain(sync: Connection) -> list[Any]:
                return list(sync.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))

            return [row[3] for row in await connection.run_sync(explain)]
    finally:
        await engine.dispose()
