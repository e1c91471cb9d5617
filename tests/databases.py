"""Fresh databases for tests: a SQLite file, or a new database on the PostgreSQL server named by
STAFETT_TEST_POSTGRES_URL (dropped again afterwards)."""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

__all__ = ["POSTGRES_URL_VARIABLE", "TestDatabases", "plain_postgres_dsn", "postgres_admin_url"]

POSTGRES_URL_VARIABLE = "STAFETT_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def plain_postgres_dsn(sqlalchemy_url: str) -> str:
    """The libpq form of a SQLAlchemy URL (for asyncpg and pg_dump)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _admin_async(sqlalchemy_url: str, statement: str) -> None:
    connection = await asyncpg.connect(plain_postgres_dsn(sqlalchemy_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _admin(sqlalchemy_url: str, statement: str) -> None:
    """Run one admin statement on its own event loop in its own thread: callers may be inside a
    running loop (Playwright's sync API keeps one running in the test's thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin_async(sqlalchemy_url, statement)).result()


class TestDatabases:
    """Hands out fresh database URLs and drops the PostgreSQL ones on `drop_all`."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.admin_url = postgres_admin_url()
        self._created: list[str] = []

    def url(self, service: str) -> str:
        if self.admin_url is None:
            return f"sqlite+aiosqlite:///{self.directory / f'{service}.db'}"
        name = f"stafett_{service}_{secrets.token_hex(6)}"
        _admin(self.admin_url, f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.admin_url is None:
            return
        for name in self._created:
            _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()
