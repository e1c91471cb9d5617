"""Fixtures for auth tests: keys made once per run, a migrated database, and the app with its
relying party's HTTP routed back into itself (no socket is opened)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.app import create_app
from services.auth.database import migrate
from services.auth.jwk_files import load_or_create_rsa_jwk
from services.auth.settings import Settings
from shared.keyfiles import load_or_create_signing_jwk
from shared.settings import Mode, load_or_create_secret
from tests.auth.helpers import AUTH_URL, PORTAL_URL, RewritingTransport, log_in
from tests.conftest import DatabaseFactory

SIRI = "23907930017"
KARI = "12838510068"


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RSA key generation is slow; every test reuses the keys made here."""
    keys = tmp_path_factory.mktemp("keys")
    load_or_create_secret(keys / "kek", mode=Mode.LOCAL)
    load_or_create_secret(keys / "pid-hmac", mode=Mode.LOCAL)
    load_or_create_rsa_jwk(keys / "auth-client.json", mode=Mode.LOCAL)
    load_or_create_rsa_jwk(keys / "test-idp.json", mode=Mode.LOCAL)
    load_or_create_signing_jwk(keys / "portal-client.json", mode=Mode.LOCAL)
    return keys


@pytest.fixture
def environ(tmp_path: Path, key_dir: Path, database_url: DatabaseFactory) -> dict[str, str]:
    shutil.copytree(key_dir, tmp_path / "keys")
    url = database_url("auth")
    migrate(url)
    return {
        "STAFETT_DATA_DIR": str(tmp_path),
        "STAFETT_AUTH_URL": AUTH_URL,
        "STAFETT_PORTAL_URL": PORTAL_URL,
        "STAFETT_AUTH_DATABASE_URL": url,
    }


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return Settings.from_env(environ)


@pytest.fixture
def portal_key(settings: Settings) -> OKPKey:
    return load_or_create_signing_jwk(
        settings.data_dir / "keys" / "portal-client.json", mode=Mode.LOCAL
    )


@pytest.fixture
def transport() -> RewritingTransport:
    return RewritingTransport()


@pytest.fixture
def app(settings: Settings, transport: RewritingTransport) -> Litestar:
    application = create_app(settings, http_transport=transport)
    transport.attach(application)
    return application


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=AUTH_URL) as test_client:
        test_client.follow_redirects = False  # each hop of the login is checked
        yield test_client


@pytest.fixture
def guardian_cookie(client: TestClient[Litestar]) -> str:
    """Kari Nordmann, logged in as a guardian; the session cookie's value."""
    response = log_in(client, "guardian", KARI)
    assert response.status_code == 303, response.text
    return client.cookies["stafett_session"]


@pytest.fixture
def staff_cookie(client: TestClient[Litestar]) -> str:
    """Siri Stafett of Helsestasjonen i Sentrum, logged in as staff."""
    response = log_in(client, "staff", SIRI, acr="idporten-loa-substantial")
    assert response.status_code == 303, response.text
    return client.cookies["stafett_session"]
