"""logg's SQLite engine runs each statement in one trip to aiosqlite's thread (shared.db,
`one_hop`), with the same results and errors as SQLAlchemy's stock adapter."""

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
    one_hop = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", one_hop=True)
    stock = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    for engine in (one_hop, stock):
        async with engine.begin() as connection:
            await connection.run_sync(_METADATA.create_all)
    yield one_hop, stock
    await one_hop.dispose()
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
async def test_one_hop_gives_what_the_stock_adapter_gives(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    one_hop, stock = engines
    assert await _work(one_hop) == await _work(stock)
    assert (await _work(one_hop))[3][0] == (1, "a!!")


@pytest.mark.anyio
async def test_each_statement_is_one_trip_to_the_thread(
    engines: tuple[AsyncEngine, AsyncEngine], trips: list[str]
) -> None:
    one_hop, stock = engines
    async with one_hop.connect() as connection:
        await connection.execute(select(_ITEMS))  # the connection is open and warm
        trips.clear()
        await connection.execute(insert(_ITEMS).values(name="x"))
        await connection.execute(select(_ITEMS))
        assert trips == ["_run_statement", "_run_statement"]
        await connection.rollback()
    async with stock.connect() as connection:
        await connection.execute(select(_ITEMS))
        trips.clear()
        await connection.execute(select(_ITEMS))
        assert len(trips) >= 3  # cursor, execute, fetch (and close): what one_hop saves


@pytest.mark.anyio
async def test_errors_surface_as_sqlalchemy_errors_and_roll_back(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    one_hop, _ = engines
    async with one_hop.connect() as connection:
        await connection.execute(insert(_ITEMS).values(name="same"))
        with pytest.raises(IntegrityError):
            await connection.execute(insert(_ITEMS).values(name="same"))
        await connection.rollback()
    async with one_hop.connect() as connection:
        assert (await connection.execute(select(_ITEMS))).all() == []
