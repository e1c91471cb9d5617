"""Database engines for the services: SQLite by default, PostgreSQL in production.

SQLite runs in WAL mode with one connection (`pool_size=1, max_overflow=0`): with more, writers
only fight over SQLite's single write lock and p99 latency explodes (measured, see DESIGN.md).

`create_engine(url, one_hop=True)` (what logg uses) also runs each SQLite statement in ONE trip to
aiosqlite's worker thread. SQLAlchemy's stock aiosqlite adapter makes three or four per statement
(open a cursor, execute, fetch, close: each a future handed to the thread and back); with one
connection every request queues behind those trips, and the event loop sat idle ~40 % of the time
under load (docs/performance.md). The SQL, its parameters, the transaction and the error
handling are SQLAlchemy's and sqlite3's as before: only the thread hand-off is batched.
"""

from __future__ import annotations

import collections
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

__all__ = [
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


def create_engine(url: str, *, one_hop: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine tuned for the kind of database `url` names. `one_hop`: on SQLite, run
    each statement in one trip to aiosqlite's thread (see the module docstring)."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if one_hop:
            kwargs["module"] = _OneHopDbapi(aiosqlite, sqlite3)
        engine = create_async_engine(url, pool_size=1, max_overflow=0, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted rows are overwritten with zeros, not left in free pages: erasure (crypto-shredding
    # of key grants) and ended sessions must not stay readable in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


async def forget_deleted_pages(session: AsyncSession) -> None:
    """After deleting what must not be recoverable: on SQLite, write the WAL back into the
    database (whose freed pages `secure_delete` zeroed) and truncate it, so no copy of the old
    pages stays in the -wal file. On PostgreSQL dead rows wait for VACUUM (docs/operations.md)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


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
    """In aiosqlite's thread: open a cursor, execute, fetch every row, close; what DB-API's
    cursor would have told in four trips (description, rowcount, lastrowid, rows)."""
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


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, but a statement is one trip to the thread. Rows are
    buffered as the stock (non-streaming) cursor buffers them."""

    __slots__ = ("_one_hop_description", "_one_hop_lastrowid", "_one_hop_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is opened here (the stock adapter spends a trip on it).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._one_hop_description: Any = None
        self._one_hop_rowcount = -1
        self._one_hop_lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._one_hop_description

    @property
    def rowcount(self) -> int:
        return self._one_hop_rowcount

    @property
    def lastrowid(self) -> int:
        return self._one_hop_lastrowid  # type: ignore[return-value]  # DB-API allows None

    async def _async_soft_close(self) -> None:
        return None  # closed in the thread already

    def close(self) -> None:
        self._rows.clear()

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's own queue to its thread (what each of its methods uses).
            # aiosqlite leaves _execute unannotated.
            description, rowcount, lastrowid, rows = await driver._execute(  # type: ignore[no-untyped-call]
                _run_statement, driver._conn, operation, parameters, many
            )
        self._one_hop_description = description
        self._one_hop_rowcount = rowcount
        self._one_hop_lastrowid = lastrowid
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    # mypy reads the base's attribute as exactly its own class; a subclass is what it takes.
    _cursor_cls = _OneHopCursor  # type: ignore[assignment]


class _OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        stock = super().connect(*arg, **kw)
        return _OneHopConnection(self, stock._connection)
