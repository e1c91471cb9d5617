"""Directory changes end sessions through the session store, so they end wherever sessions
live: auth's SQL database or Redis (where deleting SQL rows would leave them working)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth.custody import LocalKek
from services.auth.database import migrate
from services.auth.directory import DirectoryService
from services.auth.directory_admin.csv_import import StaffRecord
from services.auth.directory_admin.schemas import StaffUpdate
from services.auth.directory_admin.service import Administrator, DirectoryAdminService
from services.auth.session_stores import RedisSessionBackend, SqlSessionBackend
from services.auth.sessions import NewSession, SessionBackend, SessionStore
from shared.db import create_engine
from tests.auth.redis_fixtures import RedisTarget, redis_target
from tests.conftest import DatabaseFactory

__all__ = ["redis_target"]  # the fixture, imported for pytest

SIRI = "23907930017"
ADMIN = Administrator("p_some_administrator")


@dataclass
class World:
    store: SessionStore
    directory: DirectoryService
    admin: DirectoryAdminService

    async def log_in(self, pid: str) -> tuple[str, str]:
        """A staff session as a login makes it; returns (cookie, subject)."""
        person, unit = await self.directory.person_for_login(pid, None, "staff")
        cookie = await self.store.create(
            NewSession(
                subject=person.subject,
                role="staff",
                service_id=unit.id if unit is not None else None,
                acr="idporten-loa-high",
                idp_issuer="https://idp.example",
                idp_sid=None,
                person_keys=await self.directory.person_keys(person),
                service_keys=await self.directory.service_keys(unit) if unit is not None else None,
                id_token="header.payload.signature",
            )
        )
        return cookie, person.subject


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture(params=["sql", "redis"])
def run_in_world(
    request: pytest.FixtureRequest, database_url: DatabaseFactory, tmp_path: Path
) -> Callable[[Scenario], None]:
    url = database_url("auth")
    migrate(url)
    target: RedisTarget | None = None
    if request.param == "redis":
        target = request.getfixturevalue("redis_target")

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            engine = create_engine(url)
            sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
            directory = DirectoryService(sessionmaker, LocalKek(b"k" * 32), b"h" * 32)
            await directory.ensure_service_unit("unit-a", "Sentrum skole")
            await directory.ensure_service_unit("unit-b", "Helsestasjonen")
            await directory.ensure_staff_member(SIRI, "Siri Stafett", ["unit-a"])
            backend: SessionBackend = (
                SqlSessionBackend(sessionmaker)
                if target is None
                else RedisSessionBackend.from_url(target.url, prefix=target.prefix)
            )
            store = SessionStore(backend, idle_seconds=1800, absolute_seconds=43200)
            try:
                admin = DirectoryAdminService(sessionmaker, directory, store)
                await scenario(World(store, directory, admin))
            finally:
                await store.close()
                await engine.dispose()

        asyncio.run(main())

    return run


def test_deactivating_a_staff_member_ends_their_sessions(
    run_in_world: Callable[[Scenario], None],
) -> None:
    async def scenario(world: World) -> None:
        cookie, subject = await world.log_in(SIRI)
        assert await world.store.open(cookie) is not None
        await world.admin.deactivate_staff_member(ADMIN, subject)
        assert await world.store.open(cookie) is None

    run_in_world(scenario)


def test_changing_a_staff_members_units_ends_their_sessions_and_a_rename_does_not(
    run_in_world: Callable[[Scenario], None],
) -> None:
    async def scenario(world: World) -> None:
        cookie, subject = await world.log_in(SIRI)
        await world.admin.update_staff_member(ADMIN, subject, StaffUpdate(name="Siri S. Stafett"))
        assert await world.store.open(cookie) is not None
        await world.admin.update_staff_member(
            ADMIN, subject, StaffUpdate(service_ids=["unit-a", "unit-b"])
        )
        assert await world.store.open(cookie) is None

    run_in_world(scenario)


def test_deactivating_a_service_unit_ends_the_sessions_acting_for_it(
    run_in_world: Callable[[Scenario], None],
) -> None:
    async def scenario(world: World) -> None:
        cookie, _ = await world.log_in(SIRI)
        other, _ = await world.log_in(SIRI)
        unit_b = await world.directory.service_unit("unit-b")
        assert unit_b is not None
        assert await world.store.act_for_service(
            other, "unit-b", await world.directory.service_keys(unit_b)
        )
        await world.admin.deactivate_service_unit(ADMIN, "unit-a")
        assert await world.store.open(cookie) is None
        assert await world.store.open(other) is not None  # acts for another unit now

    run_in_world(scenario)


def test_an_import_that_moves_a_staff_member_ends_their_sessions(
    run_in_world: Callable[[Scenario], None],
) -> None:
    async def scenario(world: World) -> None:
        cookie, _ = await world.log_in(SIRI)
        record = StaffRecord(
            pid=SIRI, name="Siri Stafett", service_ids=["unit-b"], admin=False, line=2
        )
        result = await world.admin.import_staff(ADMIN, [record])
        assert result.updated == 1
        assert await world.store.open(cookie) is None

    run_in_world(scenario)
