"""The schema: migration 0001 builds exactly what the models declare, and stores no plaintext."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, DateTime, MetaData, Table, event, inspect, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.logg import models
from services.logg.models import Base, EntryRow, StafettloggRow
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


_FILTER_INDEXES = {
    "types": ("ix_entry_log_type_seq",),
    "one_type": ("ix_entry_log_type_seq",),
    "refers_to": ("ix_entry_log_refers_to_seq",),
    "ids": ("sqlite_autoindex_entry_1",),  # uq_entry_id (stafettlogg_id, id)
    "refers_to_of_types": ("ix_entry_log_refers_to_seq",),
}


@pytest.mark.parametrize("name", sorted(_FILTER_INDEXES))
def test_each_entry_filter_is_an_index_search_not_a_walk_through_the_log(name: str) -> None:
    filters: dict[str, dict[str, Any]] = {
        "types": {"types": ["goal", "measure", "meeting"]},
        "one_type": {"types": ["goal"]},
        "refers_to": {"refers_to": [f"e{n}" for n in range(100)]},
        "ids": {"ids": [f"e{n}" for n in range(100)]},
        "refers_to_of_types": {"refers_to": ["e1", "e2"], "types": ["correction", "goal"]},
    }
    plan = asyncio.run(_entries_page_plan(filters[name], before_seq=900))

    details = [row[3] for row in plan]
    assert not any(detail.startswith("SCAN entry") for detail in details), details
    assert not any("ix_entry_log_seq" in detail for detail in details), details
    assert "TEMP B-TREE" not in " ".join(details)
    for index in _FILTER_INDEXES[name]:
        assert any(index in detail for detail in details), details


async def _entries_page_plan(filters: dict[str, Any], *, before_seq: int) -> list[Any]:
    """EXPLAIN QUERY PLAN (SQLite) of the statement `models.entries_page` runs with these
    filters, over a log of 1000 entries beside another log."""
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
            for log_id in ("log", "other"):
                session.add(
                    StafettloggRow(
                        id=log_id,
                        current_epoch=1,
                        created_at=now,
                        coordinator="c",
                        sealed_description=b"",
                        request_digest=b"",
                    )
                )
            await session.flush()
            kinds = ["message", "goal", "measure", "correction", "observation"]
            session.add_all(
                EntryRow(
                    id=f"e{n}",
                    stafettlogg_id="log" if n % 4 else "other",
                    epoch=1,
                    author="c",
                    type=kinds[n % len(kinds)],
                    created_at=now,
                    stored_at=now,
                    sealed=b"",
                    author_sign_key=b"",
                    refers_to=f"e{n - 3}" if n % len(kinds) == 3 else None,
                )
                for n in range(1000)
            )
            await session.commit()
            statements.clear()
            await models.entries_page(session, "log", before_seq=before_seq, limit=21, **filters)
            statement, parameters = statements[-1]
            connection = await session.connection()

            def explain(sync: Connection) -> list[Any]:
                return list(sync.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))

            return await connection.run_sync(explain)
    finally:
        await engine.dispose()


_MOMENTS = [
    datetime(2026, 11, 23, 3, 41, 0, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 6, 1, 2, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),  # stored as 00:00 UTC
]


@pytest.mark.parametrize("moment", _MOMENTS)
def test_utc_timestamps_are_stored_as_sqlalchemy_writes_them_on_sqlite(moment: datetime) -> None:
    """UTCDateTime's one-step SQLite bind (models.UTCDateTime.bind_processor) writes the very
    text that SQLAlchemy's own SQLite DATETIME writes: old rows and new compare and sort alike."""
    dialect = sqlite.dialect()
    column_type = models.UTCDateTime()
    stock = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert stock is not None
    ours = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    expected = stock(column_type.process_bind_param(moment, dialect))
    assert ours(moment) == expected
    assert ours(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        ours(moment.replace(tzinfo=None))


def test_utc_timestamps_round_trip_through_sqlite(logg_settings: Settings) -> None:
    if not logg_settings.database_url.startswith("sqlite"):
        pytest.skip("the one-step bind is SQLite's")
    table = Table("moments", MetaData(), Column("at", models.UTCDateTime()))

    def round_trip(connection: Connection) -> list[datetime]:
        table.create(connection)
        connection.execute(table.insert(), [{"at": moment} for moment in _MOMENTS])
        found = connection.execute(
            select(table.c.at).where(table.c.at >= _MOMENTS[2]).order_by(table.c.at)
        )
        return list(found.scalars())

    expected = sorted(moment.astimezone(UTC) for moment in _MOMENTS if moment >= _MOMENTS[2])
    assert _run(logg_settings.database_url, round_trip) == expected
