"""The schema: migration 0001 builds exactly what the models declare, and stores no plaintext."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from services.logg.models import Base, EntryRow
from services.logg.settings import Settings
from shared.db import create_engine
from tests.logg.helpers import Actor, LoggApi, entry_body


def _run(url: str, work: Any) -> Any:
    async def main() -> Any:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_the_migrated_schema_matches_the_models(logg_settings: Settings) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    assert _run(logg_settings.database_url, differences) == []


def test_entries_are_indexed_by_log_and_sequence(logg_settings: Settings) -> None:
    def indexes(connection: Connection) -> list[list[str | None]]:
        return [index["column_names"] for index in inspect(connection).get_indexes("entry")]

    assert ["stafettlogg_id", "seq"] in _run(logg_settings.database_url, indexes)


def test_a_stored_entry_holds_the_sealed_bytes_and_never_the_plaintext(
    api: LoggApi, logg_settings: Settings
) -> None:
    coordinator = Actor.staff()
    log_id, key = api.create(coordinator)
    secret = b"Bekymring: barnet sover lite og er ofte sulten."
    body = entry_body(coordinator, log_id, key, plaintext=secret)
    assert api.post(f"/stafettlogger/{log_id}/entries", body, coordinator).status_code == 201

    def stored(connection: Connection) -> list[Any]:
        return list(connection.execute(select(EntryRow.__table__)).all())

    [row] = _run(logg_settings.database_url, stored)
    assert all(secret not in bytes(value) for value in row if isinstance(value, bytes | memoryview))
    assert row.author == coordinator.subject
    assert bytes(row.author_sign_key) == coordinator.keys.public().sign_public
