"""logg's database: the engine (opened in the app's lifespan), sessions, and migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from litestar.datastructures import State
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from services.logg.guard import PENDING_ACCESS, record_refusal
from shared.db import create_engine
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
        self.engine: AsyncEngine = create_engine(url, one_hop=True)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=LoggSession
        )

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
    async with database.sessions() as session:
        try:
            yield session
        except Exception as error:
            await record_refusal(session, error)
            raise
