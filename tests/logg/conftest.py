"""Fixtures for logg tests: a migrated database, a token issuer, and a test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from services.logg.app import create_app
from services.logg.database import migrate
from services.logg.settings import Settings
from tests.conftest import DatabaseFactory
from tests.logg.helpers import ISSUER, LoggApi, TokenMinter


@pytest.fixture
def logg_settings(database_url: DatabaseFactory, tmp_path: Path) -> Settings:
    url = database_url("logg")
    migrate(url)
    return Settings.from_env(
        {
            "STAFETT_LOGG_DATABASE_URL": url,
            "STAFETT_AUTH_URL": ISSUER,
            "STAFETT_DATA_DIR": str(tmp_path / "var"),
        }
    )


@pytest.fixture
def minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture
def logg_app(logg_settings: Settings, minter: TokenMinter) -> Litestar:
    return create_app(logg_settings, key_source=minter.key_source)


@pytest.fixture
def client(logg_app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(logg_app) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient[Litestar], minter: TokenMinter) -> LoggApi:
    return LoggApi(client, minter)
