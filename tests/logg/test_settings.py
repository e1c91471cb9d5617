"""Settings come from one mapping, with defaults for local use and checks for production."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.logg.settings import LOGG_AUDIENCE, Settings
from shared.settings import Mode, SettingsError


def test_defaults_suit_local_use() -> None:
    settings = Settings.from_env({})

    assert settings.mode is Mode.LOCAL
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('var') / 'logg.db'}"
    assert settings.auth_url == "http://127.0.0.1:8001"
    assert settings.auth_jwks_url == "http://127.0.0.1:8001/.well-known/jwks.json"
    assert settings.audience == LOGG_AUDIENCE == "stafett-logg"
    assert settings.max_body == 256 * 1024


def test_variables_override_the_defaults() -> None:
    settings = Settings.from_env(
        {
            "STAFETT_DATA_DIR": "/data",
            "STAFETT_AUTH_URL": "http://auth.local:9000/",
            "STAFETT_LOGG_MAX_BODY": "65536",
        }
    )

    assert settings.database_url == "sqlite+aiosqlite:////data/logg.db"
    assert settings.auth_url == "http://auth.local:9000"
    assert settings.auth_jwks_url == "http://auth.local:9000/.well-known/jwks.json"
    assert settings.max_body == 65536


@pytest.mark.parametrize(
    "environ",
    [
        {"STAFETT_MODE": "staging"},
        {"STAFETT_LOGG_MAX_BODY": "lots"},
        {"STAFETT_LOGG_MAX_BODY": "10"},
        {"STAFETT_LOGG_DATABASE_URL": "mysql://x/y"},
        {"STAFETT_AUTH_URL": "ftp://auth"},
        {"STAFETT_MODE": "production", "STAFETT_LOGG_DATABASE_URL": "postgresql+asyncpg://db/l"},
    ],
)
def test_invalid_settings_are_refused_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ)


def test_production_takes_https_urls() -> None:
    settings = Settings.from_env(
        {
            "STAFETT_MODE": "production",
            "STAFETT_AUTH_URL": "https://auth.kommune.no",
            "STAFETT_LOGG_DATABASE_URL": "postgresql+asyncpg://logg@db/logg",
        }
    )

    assert settings.mode is Mode.PRODUCTION
    assert settings.auth_jwks_url == "https://auth.kommune.no/.well-known/jwks.json"
