"""Signed heads of the access log are published on a schedule: logg signs the head of every
chain that grew, and `stafett audit verify` checks the chain against each published head."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.logg.app import create_app
from services.logg.audit import publish_signed_heads, record_hash
from services.logg.database import Database
from services.logg.models import AccessHeadSignatureRow, AccessRecordRow
from services.logg.routes import audit_signer
from services.logg.settings import Settings
from shared.settings import SettingsError
from tests.logg.helpers import ISSUER, Actor, LoggApi, TokenMinter
from tests.logg.test_access_records import _in_database, _verify


def _publish(settings: Settings) -> int:
    async def run() -> int:
        database = Database(settings.database_url)
        try:
            return await publish_signed_heads(database.sessions, audit_signer(settings))
        finally:
            await database.close()

    return asyncio.run(run())


def _signed(settings: Settings) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []

    async def read(connection: AsyncConnection) -> None:
        rows = await connection.execute(
            select(AccessHeadSignatureRow.stafettlogg_id, AccessHeadSignatureRow.seq).order_by(
                AccessHeadSignatureRow.id
            )
        )
        found.extend((log_id, seq) for log_id, seq in rows)

    _in_database(settings.database_url, read)
    return found


def test_publishing_signs_each_grown_chain_once_and_then_only_what_grew(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = Actor.staff()
    first, _ = api.create(coordinator)
    second, _ = api.create(coordinator)

    assert _publish(logg_settings) == 2
    assert sorted(_signed(logg_settings)) == sorted([(first, 1), (second, 1)])
    assert _publish(logg_settings) == 0  # nothing grew

    assert api.get(f"/stafettlogger/{second}", coordinator).status_code == 200
    assert _publish(logg_settings) == 1
    assert _signed(logg_settings)[-1] == (second, 2)
    assert _verify(logg_settings, monkeypatch) == 0


def test_publishing_walks_the_logs_in_batches(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = Actor.staff()
    logs = {api.create(coordinator)[0] for _ in range(5)}

    async def run() -> int:
        database = Database(logg_settings.database_url)
        try:
            return await publish_signed_heads(
                database.sessions, audit_signer(logg_settings), batch=2
            )
        finally:
            await database.close()

    assert asyncio.run(run()) == 5
    assert {log_id for log_id, _ in _signed(logg_settings)} == logs


def test_the_running_service_publishes_heads_on_its_schedule(
    logg_settings: Settings, minter: TokenMinter
) -> None:
    settings = Settings.from_env(
        {
            "STAFETT_LOGG_DATABASE_URL": logg_settings.database_url,
            "STAFETT_AUTH_URL": ISSUER,
            "STAFETT_DATA_DIR": str(logg_settings.data_dir),
            "STAFETT_LOGG_HEAD_INTERVAL": "1",
        }
    )
    coordinator = Actor.staff()
    with TestClient(create_app(settings, key_source=minter.key_source)) as client:
        log_id, _ = LoggApi(client, minter).create(coordinator)
        deadline = time.monotonic() + 10
        while not _signed(settings) and time.monotonic() < deadline:
            time.sleep(0.2)

    assert _signed(settings)[0] == (log_id, 1)


def test_a_chain_rewritten_consistently_is_caught_against_the_published_head(
    api: LoggApi, logg_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    coordinator, guardian = Actor.staff(), Actor.guardian()
    log_id, _ = api.create(coordinator, [(guardian, "person", "reader")])
    api.get(f"/stafettlogger/{log_id}", guardian)
    assert _publish(logg_settings) == 1  # pins seq 2

    async def rewrite(connection: AsyncConnection) -> None:
        # Someone with the database hides the guardian's read and recomputes every hash, so
        # the chain on its own checks out.
        rows = (
            await connection.execute(
                select(AccessRecordRow).where(AccessRecordRow.stafettlogg_id == log_id)
            )
        ).all()
        prev = bytes(32)
        for raw in sorted(rows, key=lambda row: row.seq):
            row = AccessRecordRow(**dict(raw._mapping))
            if row.seq == 2:
                row.subject = coordinator.subject
            new_hash = record_hash(prev, row)
            await connection.execute(
                update(AccessRecordRow)
                .where(AccessRecordRow.id == row.id)
                .values(subject=row.subject, prev_hash=prev, record_hash=new_hash)
            )
            prev = new_hash

    _in_database(logg_settings.database_url, rewrite)

    assert _verify(logg_settings, monkeypatch) == 1
    out = capsys.readouterr().out
    assert f"stafettlogg {log_id}, record 2: a signed head does not match the chain" in out


def test_publishing_needs_no_head_for_a_log_signed_on_request_already(
    api: LoggApi, logg_settings: Settings
) -> None:
    coordinator = Actor.staff()
    log_id, _ = api.create(coordinator)
    # The request's own record (seq 2) is in the head it signs.
    assert api.get(f"/stafettlogger/{log_id}/access-records/head", coordinator).status_code == 200

    assert _publish(logg_settings) == 0

    count: list[int] = []

    async def read(connection: AsyncConnection) -> None:
        count.append(
            (await connection.scalar(select(func.count()).select_from(AccessHeadSignatureRow))) or 0
        )

    _in_database(logg_settings.database_url, read)
    assert count == [1]


@pytest.mark.parametrize("interval", ["0", "-5", "86401", "soon"])
def test_the_head_interval_must_be_a_sane_number_of_seconds(interval: str) -> None:
    with pytest.raises(SettingsError, match="STAFETT_LOGG_HEAD_INTERVAL"):
        Settings.from_env({"STAFETT_LOGG_HEAD_INTERVAL": interval})
