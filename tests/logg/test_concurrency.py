"""Concurrent retries and races: the database decides; the loser gets the stored row or a 409."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.logg.helpers import Actor, LoggApi, TokenMinter, entry_body, stafettlogg_body

pytestmark = pytest.mark.anyio


@pytest.fixture
async def async_api(logg_app: Litestar, minter: TokenMinter) -> AsyncIterator[LoggApi]:
    async with AsyncTestClient(logg_app) as client:
        yield LoggApi(client, minter)


async def test_concurrent_identical_creates_make_one_log(async_api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, _ = stafettlogg_body(coordinator)

    responses = await asyncio.gather(
        *(async_api.post("/stafettlogger", body, coordinator) for _ in range(4))
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    page = await async_api.get("/stafettlogger", coordinator)
    assert [item["id"] for item in page.json()["items"]] == [body.id]


async def test_concurrent_different_creates_under_one_id_leave_one_winner(
    async_api: LoggApi,
) -> None:
    first, second = Actor.staff(), Actor.staff()
    log_id = stafettlogg_body(first)[0].id
    bodies = [
        (stafettlogg_body(actor, stafettlogg_id=log_id)[0], actor) for actor in (first, second)
    ]

    responses = await asyncio.gather(*(async_api.post("/stafettlogger", b, a) for b, a in bodies))

    assert sorted(r.status_code for r in responses) == [201, 409]


async def test_concurrent_writes_of_one_entry_store_it_once(async_api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, key = stafettlogg_body(coordinator)
    assert (await async_api.post("/stafettlogger", body, coordinator)).status_code == 201
    entry = entry_body(coordinator, body.id, key, entry_id="once")
    path = f"/stafettlogger/{body.id}/entries"

    responses = await asyncio.gather(*(async_api.post(path, entry, coordinator) for _ in range(4)))

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    listed = await async_api.get(path, coordinator)
    assert [item["id"] for item in listed.json()["items"]] == ["once"]
