"""Erasure by crypto-shredding: an administrator erases a closed log (key grants first, then
rows) or one entry; afterwards logg's database holds nothing that opens them, and the report
says what was kept for the archive (the access log, the erasure record)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.logg.models import Base
from services.logg.sealing import decode_sealed
from services.logg.settings import Settings
from shared.crypto.envelope import EnvelopeError, open_envelope
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from shared.db import sqlite_path
from shared.wire import ClosingRequest, ErasureRequest
from stafett.cli import main
from tests.logg.helpers import Actor, LoggApi, entry_body, seal

_PROBLEM = "urn:stafettlogg:problem:"
_REASON = ErasureRequest(reason="Oppbevaringstiden er ute; vedtak om kassasjon 2026/17.")


async def _every_row(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of logg's database: what a thief of it would hold."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = {}
            for table in Base.metadata.sorted_tables:
                rows = (await connection.execute(select(table))).all()
                tables[table.name] = [dict(row._mapping) for row in rows]
            return tables
    finally:
        await engine.dispose()


def _database(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    return asyncio.run(_every_row(settings.database_url))


def _holds(tables: dict[str, list[dict[str, Any]]], needle: bytes) -> list[str]:
    """The tables in which any binary or text value contains `needle`."""
    found = []
    for name, rows in tables.items():
        for row in rows:
            for value in row.values():
                raw = bytes(value) if isinstance(value, bytes | memoryview) else None
                if raw is not None and needle in raw:
                    found.append(name)
    return found


def _closed_log(api: LoggApi) -> tuple[str, bytes, Actor, Actor, list[bytes]]:
    """A closed log with a guardian, a consenting service and three entries; returns the log
    id, its key, the coordinator, the guardian and each entry's wrapped entry key."""
    coordinator, guardian, school = Actor.staff(), Actor.guardian(), Actor.staff()
    assert school.service is not None
    log_id, key = api.create(
        coordinator, [(guardian, "person", "writer"), (school, "service", "writer")]
    )
    api.consent(log_id, coordinator, key, school.service)
    wrapped = []
    for text in (b"first", b"second", b"third"):
        body = entry_body(coordinator, log_id, key, plaintext=text)
        assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201
        wrapped.append(body.sealed.wrapped_entry_key)
    note = seal(coordinator, log_id, key, entry_type="closing_note")
    closed = api.post(
        f"/stafettlogger/{log_id}/close", ClosingRequest(closing_note=note), coordinator
    )
    assert closed.status_code == 200, closed.text
    return log_id, key, coordinator, guardian, wrapped


def _admin_post(api: LoggApi, path: str, admin: Actor, body: Any = _REASON) -> Any:
    return api.post(path, body, admin, admin=True)


def test_an_erased_log_leaves_no_key_material_and_no_row_that_opens_it(
    api: LoggApi, logg_settings: Settings
) -> None:
    log_id, _, coordinator, guardian, wrapped = _closed_log(api)
    admin = Actor.staff()
    before = _database(logg_settings)
    grants = [row["wrapped_key"] for row in before["key_grant"] if row["stafettlogg_id"] == log_id]
    assert len(grants) == 3
    assert _holds(before, wrapped[0]) == ["entry"]

    response = _admin_post(api, f"/stafettlogger/{log_id}/erasure", admin)

    assert response.status_code == 201, response.text
    after = _database(logg_settings)
    for table in ("key_grant", "entry", "participant", "consent", "consent_scan", "stafettlogg"):
        assert not [
            row for row in after[table] if log_id in (row.get("stafettlogg_id"), row.get("id"))
        ], table
    for secret in [*grants, *wrapped]:
        assert _holds(after, bytes(secret)) == []
    report = response.json()
    assert report["scope"] == "stafettlogg"
    assert report["erased_by"] == admin.subject
    assert report["reason"] == _REASON.reason
    assert report["deleted"]["key_grants"] == 3
    assert report["deleted"]["entries"] == 4  # three entries and the closing note
    assert report["stafettlogg_closed_at"] is not None
    kept = {item["what"]: item["count"] for item in report["kept"]}
    records = [row for row in after["access_record"] if row["stafettlogg_id"] == log_id]
    assert kept["access-records"] == len(records) > 0
    assert kept["erasure-record"] == 1
    assert records[-1]["action"] == "erase-stafettlogg"
    assert (records[-1]["decision"], records[-1]["subject"]) == ("allowed", admin.subject)
    assert api.get(f"/stafettlogger/{log_id}", guardian).status_code == 404
    assert api.get(f"/stafettlogger/{log_id}/entries", coordinator).status_code == 404


def test_on_sqlite_the_erased_key_material_is_in_no_byte_of_the_database_files(
    api: LoggApi, logg_settings: Settings
) -> None:
    """Deleting rows is not enough: SQLite keeps deleted cells in free pages and old pages in
    the -wal file. secure_delete zeroes them and the erasure truncates the WAL."""
    path = sqlite_path(logg_settings.database_url)
    if path is None:
        pytest.skip("the database files are PostgreSQL's (docs/operations.md: VACUUM)")
    log_id, _, _, _, wrapped = _closed_log(api)
    grants = [
        bytes(row["wrapped_key"])
        for row in _database(logg_settings)["key_grant"]
        if row["stafettlogg_id"] == log_id
    ]

    def files() -> bytes:
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))

    assert all(secret in files() for secret in [*grants, *wrapped])  # the check can fail
    response = _admin_post(api, f"/stafettlogger/{log_id}/erasure", Actor.staff())
    assert response.status_code == 201, response.text
    left = files()
    assert [secret for secret in [*grants, *wrapped] if secret in left] == []


def test_erasing_a_log_again_returns_the_stored_report(api: LoggApi) -> None:
    log_id, *_ = _closed_log(api)
    admin = Actor.staff()
    first = _admin_post(api, f"/stafettlogger/{log_id}/erasure", admin)

    again = _admin_post(api, f"/stafettlogger/{log_id}/erasure", admin)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["deleted"] == first.json()["deleted"]
    assert again.json()["erased_at"] == first.json()["erased_at"]


def test_only_an_administrator_erases_and_only_a_closed_log(api: LoggApi) -> None:
    coordinator, admin = Actor.staff(), Actor.staff()
    open_log, _ = api.create(coordinator)
    closed_log, _, closer, _, _ = _closed_log(api)

    by_coordinator = api.post(f"/stafettlogger/{closed_log}/erasure", _REASON, closer)
    open_one = _admin_post(api, f"/stafettlogger/{open_log}/erasure", admin)
    unknown = _admin_post(api, "/stafettlogger/no-such-log/erasure", admin)

    assert (by_coordinator.status_code, by_coordinator.json()["type"]) == (
        403,
        _PROBLEM + "administrator-only",
    )
    assert (open_one.status_code, open_one.json()["type"]) == (409, _PROBLEM + "stafettlogg-open")
    assert unknown.status_code == 404
    assert api.get(f"/stafettlogger/{open_log}", coordinator).status_code == 200
    records = api.get(f"/stafettlogger/{closed_log}/access-records", closer).json()["items"]
    assert any(
        r["action"] == "erase-stafettlogg" and r["reason"] == "administrator-only" for r in records
    )


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"reason": "kort"}', b'{"reason": 7}', b'{"reason": "x' + b"y" * 600 + b'"}'],
)
def test_an_erasure_without_a_proper_reason_is_a_400(api: LoggApi, body: bytes) -> None:
    log_id, *_ = _closed_log(api)
    admin = Actor.staff()

    response = _admin_post(api, f"/stafettlogger/{log_id}/erasure", admin, body)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_erased_entry_cannot_be_opened_even_with_every_key(
    api: LoggApi, logg_settings: Settings
) -> None:
    """A participant who holds every epoch key still opens nothing of an erased entry: its
    wrapped entry key and ciphertext are gone from the database; the other entries open."""
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    erased = entry_body(coordinator, log_id, key, plaintext=b"written in the wrong log")
    kept = entry_body(coordinator, log_id, key, plaintext=b"stays")
    correction = entry_body(
        coordinator, log_id, key, plaintext=b"correction", entry_type="observation"
    )
    for body in (erased, kept):
        assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201
    erased_id = erased.sealed.header.entry_id
    correction = type(correction)(sealed=correction.sealed, refers_to=erased_id)
    assert api.post(f"/stafettlogger/{log_id}/entries", correction, coordinator).status_code == 201
    admin = Actor.staff()

    response = _admin_post(api, f"/stafettlogger/{log_id}/entries/{erased_id}/erasure", admin)

    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["scope"], report["entry_id"], report["deleted"]["entries"]) == (
        "entry",
        erased_id,
        1,
    )
    assert {item["what"] for item in report["kept"]} >= {"access-records", "other-entries"}
    tables = _database(logg_settings)
    assert _holds(tables, erased.sealed.wrapped_entry_key) == []
    assert _holds(tables, erased.sealed.ciphertext) == []
    # The guardian opens every grant and tries every key on every entry left.
    grants = api.get(f"/stafettlogger/{log_id}", guardian).json()["key_grants"]
    epoch_keys = [
        unwrap_epoch_key(
            base64.b64decode(grant["wrapped_key"]),
            guardian.keys,
            KeyGrantContext(log_id, grant["epoch"], "person", guardian.subject),
        )
        for grant in grants
    ]
    assert epoch_keys == [key]
    sign_key = coordinator.keys.signing_key().public_key()
    opened = []
    for row in tables["entry"]:
        if row["stafettlogg_id"] != log_id:
            continue
        for epoch_key in epoch_keys:
            try:
                sealed = decode_sealed(row["sealed"])
                opened.append(open_envelope(sealed, epoch_key=epoch_key, author_public=sign_key))
            except EnvelopeError:
                continue
    assert b"written in the wrong log" not in opened
    assert sorted(opened) == [b"correction", b"stays"]
    page = api.get(f"/stafettlogger/{log_id}/entries", guardian).json()["items"]
    assert erased_id not in [item["id"] for item in page]
    records = api.get(f"/stafettlogger/{log_id}/access-records", guardian).json()["items"]
    assert any(
        r["action"] == "erase-entry" and r["entry_id"] == erased_id and r["decision"] == "allowed"
        for r in records
    )
    again = _admin_post(api, f"/stafettlogger/{log_id}/entries/{erased_id}/erasure", admin)
    assert again.status_code == 200


def test_erasing_an_unknown_entry_is_a_404_and_a_participant_may_not_erase(
    api: LoggApi,
) -> None:
    coordinator, guardian, admin = Actor.staff(), Actor.guardian(), Actor.staff()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    body = entry_body(coordinator, log_id, key)
    assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201
    entry_id = body.sealed.header.entry_id

    unknown = _admin_post(api, f"/stafettlogger/{log_id}/entries/nope/erasure", admin)
    by_coordinator = api.post(
        f"/stafettlogger/{log_id}/entries/{entry_id}/erasure", _REASON, coordinator
    )
    by_guardian = api.post(f"/stafettlogger/{log_id}/entries/{entry_id}/erasure", _REASON, guardian)

    assert (unknown.status_code, unknown.json()["type"]) == (404, _PROBLEM + "entry-not-found")
    assert by_coordinator.status_code == by_guardian.status_code == 403
    listed = api.get(f"/stafettlogger/{log_id}/entries", guardian).json()["items"]
    assert entry_id in [item["id"] for item in listed]


def test_stafett_audit_erasures_lists_what_was_erased_and_kept(
    api: LoggApi,
    logg_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    log_id, *_ = _closed_log(api)
    admin = Actor.staff()
    assert _admin_post(api, f"/stafettlogger/{log_id}/erasure", admin).status_code == 201
    monkeypatch.setenv("STAFETT_LOGG_DATABASE_URL", logg_settings.database_url)
    monkeypatch.setenv("STAFETT_AUTH_URL", "http://auth.test")
    monkeypatch.setenv("STAFETT_DATA_DIR", str(tmp_path / "cli"))

    assert main(["audit", "erasures"]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "1 erasures"
    assert f"stafettlogg {log_id} by {admin.subject}" in lines[0]
    assert _REASON.reason in lines[0]
    assert "3 key grants" in lines[0]
    assert "access records and this record" in lines[0]
