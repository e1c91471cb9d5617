"""The databases under test: SQLite files in a scratch directory, or fresh PostgreSQL databases
on 127.0.0.1 (created for the run and dropped after it)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

__all__ = ["BenchDatabases"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost"})


def _plain_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


async def _admin(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_plain_dsn(admin_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class BenchDatabases:
    """Hands out one database URL per name; `drop_all` removes the PostgreSQL ones."""

    def __init__(self, kind: str, scratch: Path, postgres_admin_url: str) -> None:
        if kind not in {"sqlite", "postgres"}:
            raise ValueError("the database must be sqlite or postgres")
        self.kind = kind
        self._scratch = scratch
        self._admin_url = postgres_admin_url
        self._created: list[str] = []
        if kind == "postgres" and make_url(postgres_admin_url).host not in _LOOPBACK:
            raise ValueError("the benchmark only uses a PostgreSQL server on 127.0.0.1")

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self._scratch / f'{name}.db'}"
        database = f"stafett_bench_{name}_{secrets.token_hex(4)}"
        asyncio.run(_admin(self._admin_url, f'CREATE DATABASE "{database}"'))
        self._created.append(database)
        url = make_url(self._admin_url).set(database=database)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for database in self._created:
            asyncio.run(
                _admin(self._admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            )
        self._created.clear()
