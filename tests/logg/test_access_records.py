"""The access log (innsynslogg): every request on a log leaves a hash-chained record; guardians
and the coordinator read it; `stafett audit verify` finds a tampered, removed or forged record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.logg import audit
from services.logg.audit import head_signing_input
from services.logg.models import AccessRecordRow
from services.logg.settings import Settings
from shared.db import create_engine
from shared.wire import AccessRecordPage, SignedAccessHead
from stafett.audit import audit_public_keys
from stafett.cli import main
from tests.logg.helpers import ISSUER, Actor, LoggApi, TokenMinter, entry_body


def _records(api: LoggApi, log_id: str, actor: Actor, **params: Any) -> AccessRecordPage:
    response = api.get(f"/stafettlogger/{log_id}/access-records", actor, dict(params))
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=AccessRecordPage)


def _in_database(url: str, work: Any) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await work(connection)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _verify(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("STAFETT_LOGG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAFETT_AUTH_URL", ISSUER)
    monkeypatch.setenv("STAFETT_LOGG_AUDIT_KEY_FILE", str(settings.audit_key_file))
    return main(["audit", "verify"])


def test_reads_writes_and_denials_each_leave_a_record_the_guardian_sees_newest_first(
    api: LoggApi,
) -> None:
    coordinator, guardian, outsider = Actor.staff(), Actor.guardian(), Actor.staff()
    log_id, key = api.create(coordinator, [(guardian, "person", "writer")])
    entry = entry_body(coordinator, log_id, key)
    assert api.post(f"/stafettlogger/{log_id}/entries", entry, coordinator).status_code == 201
    assert api.get(f"/stafettlogger/{log_id}/entries", guardian).status_code == 200
    assert api.get(f"/stafettlogger/{log_id}", outsider).status_code == 403

    page = _records(api, log_id, guardian)

    seen = [(r.seq, r.subject, r.action, r.decision, r.reason) for r in page.items]
    assert seen == [
        (5, guardian.subject, "read-access-log", "allowed", "allowed"),
        (4, outsider.subject, "read-stafettlogg", "denied", "not-a-participant"),
        (3, guardian.subject, "read-entries", "allowed", "allowed"),
        (2, coordinator.subject, "write-entry", "allowed", "allowed"),
        (1, coordinator.subject, "create-stafettlogg", "allowed", "allowed"),
    ]
    assert page.items[3].entry_id == entry.sealed.header.entry_id
    assert page.items[3].roles == ["coordinator"]
    assert page.items[1].service == outsider.service


def test_the_access_log_pages_by_cursor(api: LoggApi) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    for _ in range(4):
        api.get(f"/stafettlogger/{log_id}", coordinator)

    first = _records(api, log_id, coordinator, limit=3)
    assert first.next_cursor is not None
    second = _records(api, log_id, coordinator, limit=3, cursor=first.next_cursor)

    assert [r.seq for r in first.items] == [6, 5, 4]
    assert [r.seq for r in second.items] == [3, 2, 1]


def test_a_service_contact_cannot_read_the_access_log(api: LoggApi) -> None:
    coordinator, school = Actor.staff(), Actor.staff()
    log_id, key = api.create(coordinator, [(school, "service", "writer")])
    assert school.service is not None
    api.consent(log_id, coordinator, key, school.service)

    response = api.get(f"/stafettlogger/{log_id}/access-records", school)

    assert response.status_code == 403
    assert response.json()["type"] == "urn:stafettlogg:problem:family-or-coordinator-only"


def test_the_signed_head_verifies_with_loggs_public_audit_key(
    api: LoggApi, logg_settings: Settings
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)

    response = api.get(f"/stafettlogger/{log_id}/access-records/head", coordinator)

    assert response.status_code == 200, response.text
    head = msgspec.json.decode(response.content, type=SignedAccessHead)
    assert head.seq == 2
    [key] = audit_public_keys(logg_settings.audit_key_file).keys
    public = key.public_key
    assert isinstance(public, Ed25519PublicKey)
    message = head_signing_input(log_id, head.seq, bytes.fromhex(head.head_hash), head.signed_at)
    public.verify(head.signature, message)  # raises InvalidSignature if it does not verify


def test_audit_verify_says_ok_for_an_untouched_database(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    api.get(f"/stafettlogger/{log_id}/access-records/head", coordinator)

    assert _verify(logg_settings, monkeypatch) == 0
    assert capsys.readouterr().out.startswith("OK: 1 logs, 2 access records, 1 signed heads")


def test_audit_verify_finds_a_changed_record(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, _ = api.create(coordinator, [(guardian, "person", "writer")])
    api.get(f"/stafettlogger/{log_id}", guardian)
    api.get(f"/stafettlogger/{log_id}", coordinator)

    async def tamper(connection: AsyncConnection) -> None:
        await connection.execute(
            update(AccessRecordRow)
            .where(AccessRecordRow.stafettlogg_id == log_id, AccessRecordRow.seq == 2)
            .values(subject="someone-else")
        )

    _in_database(logg_settings.database_url, tamper)

    assert _verify(logg_settings, monkeypatch) == 1
    assert f"stafettlogg {log_id}, record 2" in capsys.readouterr().out


def test_audit_verify_finds_records_cut_off_after_a_signed_head(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    api.get(f"/stafettlogger/{log_id}", coordinator)
    api.get(f"/stafettlogger/{log_id}/access-records/head", coordinator)  # signs seq 3

    async def cut(connection: AsyncConnection) -> None:
        await connection.execute(
            delete(AccessRecordRow).where(
                AccessRecordRow.stafettlogg_id == log_id, AccessRecordRow.seq == 3
            )
        )

    _in_database(logg_settings.database_url, cut)

    assert _verify(logg_settings, monkeypatch) == 1
    assert f"stafettlogg {log_id}, record 3" in capsys.readouterr().out


def test_audit_verify_finds_a_forged_head_signature(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    api.get(f"/stafettlogger/{log_id}/access-records/head", coordinator)

    async def forge(connection: AsyncConnection) -> None:
        await connection.execute(
            text("UPDATE access_head_signature SET signature = :forged"),
            {"forged": bytes(64)},
        )

    _in_database(logg_settings.database_url, forge)

    assert _verify(logg_settings, monkeypatch) == 1


@pytest.fixture
async def async_api(logg_app: Litestar, minter: TokenMinter) -> AsyncIterator[LoggApi]:
    async with AsyncTestClient(logg_app) as client:
        yield LoggApi(client, minter)


@pytest.mark.anyio
async def test_concurrent_requests_extend_one_unbroken_chain(
    async_api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = Actor.staff()
    from tests.logg.helpers import stafettlogg_body

    body, key = stafettlogg_body(coordinator)
    assert (await async_api.post("/stafettlogger", body, coordinator)).status_code == 201
    path = f"/stafettlogger/{body.id}/entries"

    responses = await asyncio.gather(
        *(
            async_api.post(path, entry_body(coordinator, body.id, key), coordinator)
            for _ in range(6)
        ),
        *(async_api.get(path, coordinator) for _ in range(6)),
    )

    assert sorted(r.status_code for r in responses) == [200] * 6 + [201] * 6
    page = await async_api.get(
        f"/stafettlogger/{body.id}/access-records", coordinator, {"limit": 100}
    )
    assert [item["seq"] for item in page.json()["items"]] == list(range(14, 0, -1))
    assert await asyncio.to_thread(_verify, logg_settings, monkeypatch) == 0


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 23, 3, 41, 0, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        datetime(2025, 6, 1, 2, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_the_hashed_time_is_written_as_the_chains_already_stored_were(moment: datetime) -> None:
    """Records already in the chains were hashed with strftime's text; the cheaper isoformat
    must give the same bytes, or `stafett audit verify` would report every old record broken."""
    expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert audit._rfc3339(moment) == expected
