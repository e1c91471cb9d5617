"""The staff-directory migration keeps each staff member's service unit as a membership."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.auth.database import MIGRATIONS_DIR
from shared.db import create_engine
from tests.conftest import DatabaseFactory


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def _run(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    rows: list[tuple[object, ...]] = []
    async with engine.begin() as connection:
        for statement in statements:
            result = await connection.execute(text(statement))
            if result.returns_rows:
                rows.extend(tuple(row) for row in result.all())
    await engine.dispose()
    return rows


def test_upgrade_moves_the_service_unit_into_memberships_and_back(
    database_url: DatabaseFactory,
) -> None:
    url = database_url("auth")
    command.upgrade(_config(url), "0001")
    asyncio.run(
        _run(
            url,
            "INSERT INTO service_units VALUES ('skole', 'Skole', '', '', '', 1)",
            "INSERT INTO persons (subject, pid_hmac, name, kind, service_id, hpke_public, "
            "sign_public, sealed_private_keys, created_at, updated_at) "
            "VALUES ('p_a', 'h', 'A', 'staff', 'skole', '', '', '', 1, 1)",
        )
    )
    command.upgrade(_config(url), "0002_staff_directory")
    rows = asyncio.run(
        _run(
            url,
            "SELECT m.person_subject, m.service_id, p.admin, p.deactivated_at "
            "FROM staff_memberships m JOIN persons p ON p.subject = m.person_subject",
        )
    )
    assert rows == [("p_a", "skole", False, None)]
    command.downgrade(_config(url), "0001")
    assert asyncio.run(_run(url, "SELECT service_id FROM persons")) == [("skole",)]
