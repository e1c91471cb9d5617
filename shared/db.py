"""Database engines for the services: SQLite by default, PostgreSQL in production.

SQLite runs in WAL mode with one connection (`pool_size=1, max_overflow=0`): with more, writers
only fight over SQLite's single write lock and p99 latency explodes (measured, see DESIGN.md).

`create_engine(url, inline=True)` (what logg uses) runs each SQLite statement at once in the
event loop's thread; only COMMIT and ROLLBACK go to aiosqlite's thread. A statement here is an
index lookup or an insert of a few kB (1-30 µs in SQLite), while each trip to that thread and back
costs ~45 µs of CPU (two context switches and the loop's self-pipe) and SQLAlchemy's stock adapter
makes three or four trips per statement (open a cursor, execute, fetch, close). With one
connection every request queues behind those trips. The SQL, its parameters, the transaction and
the error handling are SQLAlchemy's and sqlite3's as before. A commit stays in the thread: that is
where SQLite may checkpoint the WAL and wait for the disk. A rollback with no transaction open
(the pool's, after every commit) makes no trip at all. What this costs: a slow statement holds
the event loop; logg's statements are bounded by its indexes and page sizes (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import EMPTY_DICT

from shared.checkpoints import SAFETY_NET_PAGES

__all__ = [
    "WalNotTruncatedError",
    "create_engine",
    "database_is_ready",
    "forget_deleted_pages",
    "is_sqlite",
    "sqlite_path",
]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and other databases."""
    if not is_sqlite(url):
        return None
    _, _, path = url.partition(":///")
    return Path(path) if path and path != ":memory:" else None


def create_engine(
    url: str, *, inline: bool = False, background_checkpoints: bool = False, **kwargs: Any
) -> AsyncEngine:
    """An async engine tuned for the kind of database `url` names. On SQLite: `inline` runs
    statements in the event loop's thread (see the module docstring); `background_checkpoints`
    leaves WAL checkpoints to a `shared.checkpoints.WalCheckpointer` the caller runs."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if inline:
            kwargs["module"] = _InlineDbapi(aiosqlite, sqlite3)
        engine = create_async_engine(url, pool_size=1, max_overflow=0, **kwargs)
        pages = SAFETY_NET_PAGES if background_checkpoints else _SQLITE_DEFAULT_CHECKPOINT
        event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_pragmas, pages))
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


_SQLITE_DEFAULT_CHECKPOINT = 1000  # pages: SQLite's own wal_autocheckpoint


def _sqlite_pragmas(
    checkpoint_pages: int, dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry
) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted rows are overwritten with zeros, not left in free pages: erasure (crypto-shredding
    # of key grants) and ended sessions must not stay readable in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
    cursor.close()


async def forget_deleted_pages(
    session: AsyncSession, *, attempts: int = 100, pause: float = 0.02
) -> None:
    """After deleting what must not be recoverable: on SQLite, write the WAL back into the
    database (whose freed pages `secure_delete` zeroed) and truncate it, so no copy of the old
    pages stays in the -wal file. On PostgreSQL dead rows wait for VACUUM (docs/operations.md).

    SQLite answers "busy" while another connection checkpoints (shared.checkpoints, a few
    milliseconds) or reads an older snapshot: try again, for up to `attempts` x `pause`
    seconds, then raise WalNotTruncatedError (fail closed: the caller must not report the
    pages gone; the deletion itself is committed, and a retry truncates)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(pause)
        result = await session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        busy, _frames, _copied = result.one()
        if not busy:
            return
    raise WalNotTruncatedError("the SQLite WAL stayed busy: it was not truncated")


class WalNotTruncatedError(RuntimeError):
    """`forget_deleted_pages` could not truncate the WAL: copies of deleted pages may remain."""


async def database_is_ready(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query: what /healthz reports."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, int, int | None, list[Any]]:
    """Open a cursor, execute, fetch every row, close; what DB-API's cursor would tell
    (description, rowcount, lastrowid, rows)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, but a statement runs at once, in the calling (event loop)
    thread, on the sqlite3 connection. Rows are buffered as the stock (non-streaming) cursor
    buffers them; errors go through the adapter's own translation, as before."""

    __slots__ = ("_inline_description", "_inline_lastrowid", "_inline_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is opened here (the stock adapter spends a trip on it).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._inline_description: Any = None
        self._inline_rowcount = -1
        self._inline_lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._inline_description

    @property
    def rowcount(self) -> int:
        return self._inline_rowcount

    @property
    def lastrowid(self) -> int:
        return self._inline_lastrowid  # type: ignore[return-value]  # DB-API allows None

    async def _async_soft_close(self) -> None:
        return None  # closed already

    def close(self) -> None:
        self._rows.clear()

    # SQLAlchemy's execute() awaits these in its greenlet (as with any async driver: it requires
    # an await) and translates their errors; they finish without ever suspending.
    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        description, rowcount, lastrowid, rows = _run_statement(
            driver._conn, operation, parameters, many
        )
        self._inline_description = description
        self._inline_rowcount = rowcount
        self._inline_lastrowid = lastrowid
        self._rows = collections.deque(rows)


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    # mypy reads the base's attribute as exactly its own class; a subclass is what it takes.
    _cursor_cls = _InlineCursor  # type: ignore[assignment]

    def rollback(self) -> None:
        """No trip when there is nothing to roll back. The pool rolls back every connection it
        takes back, also right after a commit (every request's last step); sqlite3's own
        rollback() then does nothing: it checks this same flag first, in aiosqlite's thread."""
        driver: sqlite3.Connection | None = self._connection._connection  # None once closed
        if driver is not None and not driver.in_transaction:
            return
        super().rollback()


class _InlineDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # Statements run in the event loop's thread, commits in aiosqlite's: one at a time
        # (one pooled connection, used by one session), never concurrently.
        kw["check_same_thread"] = False
        stock = super().connect(*arg, **kw)
        return _InlineConnection(self, stock._connection)
