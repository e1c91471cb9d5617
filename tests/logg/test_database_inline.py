"""logg's SQLite engine runs statements in the event loop's thread and only commits and
rollbacks in aiosqlite's (shared.db, `inline`), with the same results and errors as SQLAlchemy's
stock adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine

_METADATA = MetaData()
_ITEMS = Table(
    "item",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(16), unique=True),
)


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    inline = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", inline=True)
    stock = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    for engine in (inline, stock):
        async with engine.begin() as connection:
            await connection.run_sync(_METADATA.create_all)
    yield inline, stock
    await inline.dispose()
    await stock.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function aiosqlite hands to its thread."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]  # aiosqlite leaves it unannotated

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return seen


async def _work(engine: AsyncEngine) -> tuple[Any, ...]:
    async with engine.connect() as connection:
        inserted = await connection.execute(insert(_ITEMS).values(name="a"))
        many = await connection.execute(insert(_ITEMS), [{"name": "b"}, {"name": "c"}])
        changed = await connection.execute(update(_ITEMS).values(name=_ITEMS.c.name + "!"))
        rows = (await connection.execute(select(_ITEMS).order_by(_ITEMS.c.id))).all()
        await connection.commit()
    return inserted.inserted_primary_key, many.rowcount, changed.rowcount, rows


@pytest.mark.anyio
async def test_inline_gives_what_the_stock_adapter_gives(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    inline, stock = engines
    assert await _work(inline) == await _work(stock)
    assert (await _work(inline))[3][0] == (1, "a!!")


@pytest.mark.anyio
async def test_statements_make_no_trip_to_the_thread_and_a_commit_makes_one(
    engines: tuple[AsyncEngine, AsyncEngine], trips: list[str]
) -> None:
    inline, stock = engines
    async with inline.connect() as connection:
        await connection.execute(select(_ITEMS))  # the connection is open and warm
        trips.clear()
        await connection.execute(insert(_ITEMS).values(name="x"))
        await connection.execute(select(_ITEMS))
        assert trips == []
        await connection.commit()
        assert trips == ["commit"]
    async with stock.connect() as connection:
        await connection.execute(select(_ITEMS))
        trips.clear()
        await connection.execute(select(_ITEMS))
        assert len(trips) >= 3  # cursor, execute, fetch (and close): what inline saves


@pytest.mark.anyio
async def test_errors_surface_as_sqlalchemy_errors_and_roll_back(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    inline, _ = engines
    async with inline.connect() as connection:
        await connection.execute(insert(_ITEMS).values(name="same"))
        with pytest.raises(IntegrityError):
            await connection.execute(insert(_ITEMS).values(name="same"))
        await connection.rollback()
    async with inline.connect() as connection:
        assert (await connection.execute(select(_ITEMS))).all() == []


@pytest.mark.anyio
async def test_returning_a_committed_connection_makes_no_trip_and_a_rollback_still_rolls_back(
    engines: tuple[AsyncEngine, AsyncEngine], trips: list[str]
) -> None:
    inline, _ = engines
    async with inline.connect() as connection:
        await connection.execute(insert(_ITEMS).values(name="kept"))
        await connection.commit()
        trips.clear()
    assert trips == []  # the pool's reset found no transaction: no ROLLBACK sent
    async with inline.connect() as connection:
        await connection.execute(insert(_ITEMS).values(name="undone"))
        trips.clear()
        await connection.rollback()
        assert trips == ["rollback"]
    async with inline.connect() as connection:
        await connection.execute(insert(_ITEMS).values(name="left open"))
        trips.clear()
    assert trips == ["rollback"]  # returned mid-transaction: the pool's reset rolls it back
    async with inline.connect() as connection:
        names = (await connection.execute(select(_ITEMS.c.name))).scalars().all()
    assert names == ["kept"]
