"""Fixtures every test may use: a fresh database per service, on SQLite or PostgreSQL.

Set STAFETT_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) to run
the suite against PostgreSQL: each test that asks for a database then gets a fresh one there,
dropped afterwards. Without it, each gets a SQLite file in its own temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL_VARIABLE = "STAFETT_TEST_POSTGRES_URL"

DatabaseFactory = Callable[[str], str]


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def _plain_dsn(sqlalchemy_url: str, database: str | None = None) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def _admin(sqlalchemy_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_plain_dsn(sqlalchemy_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[DatabaseFactory]:
    """A factory: `database_url("logg")` gives the URL of a fresh, empty database."""
    admin_url = postgres_admin_url()
    created: list[str] = []

    def make(service: str) -> str:
        if admin_url is None:
            return f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"
        name = f"stafett_{service}_{secrets.token_hex(6)}"
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in created:
        asyncio.run(_admin(admin_url or "", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
