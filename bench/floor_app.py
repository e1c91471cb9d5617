"""The floor: a bare Litestar + SQLAlchemy app that inserts and reads rows of an entry's size.

No token, no access decision, no signature check: only HTTP, JSON, the ORM and the database,
on an engine from `shared.db.create_engine` (SQLite WAL with one connection, or PostgreSQL with
the same pool as logg). What logg costs above this is the price of its security.

Run: `STAFETT_BENCH_FLOOR_DATABASE_URL=... python -m bench.floor_app 127.0.0.1 PORT`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import msgspec
import uvicorn
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import create_engine

__all__ = ["FloorRow", "NewRow", "RowPage", "RowView", "create_app", "main"]

DATABASE_URL_VARIABLE = "STAFETT_BENCH_FLOOR_DATABASE_URL"


class _Base(DeclarativeBase):
    pass


class FloorRow(_Base):
    __tablename__ = "floor_row"
    __table_args__ = (Index("ix_floor_row_log_seq", "log", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    log: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class NewRow(msgspec.Struct, frozen=True):
    id: str
    log: str
    data: bytes


class RowView(msgspec.Struct, frozen=True):
    id: str
    data: bytes
    stored_at: datetime


class RowPage(msgspec.Struct, frozen=True):
    items: list[RowView]


async def _session(state: State) -> AsyncIterator[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = state.sessions
    async with sessions() as session:
        yield session


@post("/rows", status_code=201)
async def insert_row(session: AsyncSession, data: NewRow) -> RowView:
    row = FloorRow(id=data.id, log=data.log, stored_at=datetime.now(UTC), data=data.data)
    session.add(row)
    await session.commit()
    return RowView(id=row.id, data=row.data, stored_at=row.stored_at)


@get("/rows")
async def first_page(
    session: AsyncSession, log: str, limit: int = Parameter(default=20, ge=1, le=100)
) -> RowPage:
    result = await session.execute(
        select(FloorRow).where(FloorRow.log == log).order_by(FloorRow.seq.desc()).limit(limit)
    )
    rows = result.scalars().all()
    return RowPage([RowView(id=row.id, data=row.data, stored_at=row.stored_at) for row in rows])


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(database_url: str) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = create_engine(database_url)
        async with engine.begin() as connection:
            await connection.run_sync(_Base.metadata.create_all)
        app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
        try:
            yield
        finally:
            await engine.dispose()

    return Litestar(
        route_handlers=[insert_row, first_page, healthz],
        dependencies={"session": Provide(_session)},
        lifespan=[lifespan],
        debug=False,
    )


def main(argv: list[str]) -> int:
    host, port = argv[1], int(argv[2])
    app = create_app(os.environ[DATABASE_URL_VARIABLE])
    uvicorn.run(
        app, host=host, port=port, access_log=False, server_header=False, log_level="warning"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
