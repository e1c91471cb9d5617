"""`/healthz` reports whether the database answers."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from services.auth import health


def test_healthz_is_ok_when_the_database_answers(client: TestClient[Litestar]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(_engine: AsyncEngine) -> bool:
        return False

    monkeypatch.setattr(health, "database_is_ready", unreachable)
    assert client.get("/healthz").status_code == 503


def test_request_bodies_are_bounded(client: TestClient[Litestar]) -> None:
    response = client.post(
        "/token",
        content=b"a=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
