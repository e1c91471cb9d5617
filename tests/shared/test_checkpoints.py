"""WAL checkpoints outside the request path (shared.checkpoints)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from shared.checkpoints import SAFETY_NET_PAGES, WalCheckpointer
from shared.db import WalNotTruncatedError, create_engine, forget_deleted_pages


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


async def _engine(path: Path, *, background: bool) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", background_checkpoints=background)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (b BLOB)"))
    return engine


async def _write(engine: AsyncEngine, rows: int) -> None:
    """`rows` rows of 4 kB, each in its own commit (a page or more of WAL each)."""
    for _ in range(rows):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (randomblob(4000))"))


async def _checkpoint_setting(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


@pytest.fixture
async def background(path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _engine(path, background=True)
    yield engine  # open: closing the last connection would checkpoint the WAL itself
    await engine.dispose()


@pytest.mark.anyio
async def test_commits_leave_the_wal_to_the_checkpointer_and_it_copies_every_frame(
    path: Path, background: AsyncEngine
) -> None:
    assert await _checkpoint_setting(background) == SAFETY_NET_PAGES
    await _write(background, 1500)
    # Past SQLite's own 1 000-page threshold, no commit copied the WAL back: all its frames are
    # there for the checkpointer, which copies every one.
    frames, copied = WalCheckpointer(path).checkpoint()
    assert frames >= 1500
    assert copied == frames


@pytest.mark.anyio
async def test_without_the_checkpointer_a_commit_checkpoints_at_sqlites_default(
    path: Path,
) -> None:
    engine = await _engine(path, background=False)
    try:
        assert await _checkpoint_setting(engine) == 1000
        await _write(engine, 1500)
        frames, _ = WalCheckpointer(path).checkpoint()
        assert frames < 1500  # the WAL was copied back and started over along the way
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_the_task_checkpoints_every_interval_until_cancelled(
    path: Path, background: AsyncEngine
) -> None:
    await _write(background, 50)
    checkpointer = WalCheckpointer(path, interval=0.02)
    task = asyncio.create_task(checkpointer.run())
    try:
        for _ in range(250):
            if checkpointer.checkpoints >= 2:
                break
            await asyncio.sleep(0.02)
        assert checkpointer.checkpoints >= 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # Everything was copied back, so the next commit starts the WAL over from its first frame.
    await _write(background, 1)
    frames, _ = WalCheckpointer(path).checkpoint()
    assert frames < 10


@pytest.mark.anyio
async def test_forgetting_deleted_pages_fails_closed_while_the_wal_stays_busy(
    path: Path, background: AsyncEngine
) -> None:
    """An erasure truncates the WAL (shared.db.forget_deleted_pages). While a reader keeps an
    older snapshot, SQLite cannot: after its attempts it raises instead of returning as if the
    old pages were gone; once the reader is done, the WAL is truncated to nothing."""
    await _write(background, 20)
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchone()  # holds its snapshot
    await _write(background, 5)
    sessions = async_sessionmaker(background)
    try:
        async with sessions() as session:
            await session.execute(text("PRAGMA busy_timeout=10"))
            with pytest.raises(WalNotTruncatedError):
                await forget_deleted_pages(session, attempts=3, pause=0.01)
    finally:
        reader.close()
    async with sessions() as session:
        await forget_deleted_pages(session, attempts=3, pause=0.01)
    assert path.with_name(path.name + "-wal").stat().st_size == 0
