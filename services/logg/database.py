"""logg's database: the engine (opened in the app's lifespan), sessions, and migrations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from litestar.datastructures import State
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from services.logg.guard import PENDING_ACCESS, record_refusal
from shared.checkpoints import WalCheckpointer
from shared.db import create_engine, is_sqlite, sqlite_path
from shared.migrations import upgrade_to_head

__all__ = ["MIGRATIONS_DIR", "Database", "migrate", "provide_session"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class LoggSession(Session):
    """logg's ORM session: after a commit no access record is pending (services.logg.guard)."""


@event.listens_for(LoggSession, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(PENDING_ACCESS, None)


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_engine(url, inline=True, background_checkpoints=True)
        path = sqlite_path(url)
        # SQLite: the WAL is copied back into the database file by a task of the app's
        # lifespan, not by the commit that happens to fill it (shared.checkpoints).
        self.checkpointer = WalCheckpointer(path) if path is not None else None
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=LoggSession
        )
        # SQLite has one connection (shared.db). SQLAlchemy's pool hands a returned connection
        # to its first waiter, but a request that asks in between takes it first, and the
        # waiter queues again at the back: under load some requests lose over and over (p99
        # 60-100 ms at p50 20-28 ms, docs/performance.md). Requests take turns in the order
        # they asked instead: asyncio.Lock wakes its waiters first in, first out.
        self._turns = asyncio.Lock() if is_sqlite(url) else None

    def turn(self) -> AbstractAsyncContextManager[object]:
        """Wait for this request's turn at the database (first come, first served; on
        PostgreSQL, with its pool of connections, at once)."""
        return self._turns if self._turns is not None else contextlib.nullcontext()

    async def close(self) -> None:
        await self.engine.dispose()


def migrate(database_url: str) -> None:
    """Bring the database at `database_url` to the newest schema. Call it outside an event
    loop (it runs its own), e.g. from `stafett migrate` or before starting the server."""
    upgrade_to_head(database_url, MIGRATIONS_DIR)


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    """One session per request; closed (rolled back if uncommitted) when the request ends.
    A request that fails after it was allowed keeps a record of its refusal
    (`guard.record_refusal`): Litestar throws the handler's exception in here."""
    database: Database = state.database
    async with database.turn(), database.sessions() as session:
        try:
            yield session
        except Exception as error:
            await record_refusal(session, error)
            raise
