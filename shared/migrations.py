"""Alembic, driven from code: each service keeps its revisions in `services/<name>/migrations`
and calls `upgrade_to_head` at start (or through `stafett migrate`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.db import is_sqlite, sqlite_path

__all__ = ["run_migrations_online", "upgrade_to_head"]


def upgrade_to_head(database_url: str, migrations_dir: Path) -> None:
    """Apply every migration in `migrations_dir` to the database at `database_url`."""
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def run_migrations_online(target_metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py`."""
    config = context.config
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), poolclass=pool.NullPool
    )
    render_as_batch = is_sqlite(str(engine.url))

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=render_as_batch,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())
