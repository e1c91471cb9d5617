"""Fixtures every test may use: a fresh database per service, on SQLite or PostgreSQL.

Set STAFETT_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) to run
the suite against PostgreSQL: each test that asks for a database then gets a fresh one there,
dropped afterwards. Without it, each gets a SQLite file in its own temporary directory.
With STAFETT_REQUIRE_POSTGRES=1 (CI), an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.databases import TestDatabases, plain_postgres_dsn, postgres_admin_url

DatabaseFactory = Callable[[str], str]


def pytest_sessionstart(session: pytest.Session) -> None:
    admin_url = postgres_admin_url()
    if os.environ.get("STAFETT_REQUIRE_POSTGRES") == "1" and admin_url is not None:
        asyncio.run(_ping(admin_url))


async def _ping(admin_url: str) -> None:
    connection = await asyncpg.connect(plain_postgres_dsn(admin_url))
    await connection.close()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[DatabaseFactory]:
    """A factory: `database_url("logg")` gives the URL of a fresh, empty database."""
    databases = TestDatabases(tmp_path)
    yield databases.url
    databases.drop_all()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
