"""Settings: local defaults, and what production mode refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.auth.app import create_app
from services.auth.settings import Settings
from shared.settings import Mode, SettingsError

PRODUCTION = {
    "STAFETT_MODE": "production",
    "STAFETT_PORTAL_URL": "https://stafett.kommune.no",
    "STAFETT_AUTH_URL": "https://stafett.kommune.no/auth",
    "STAFETT_LOGG_URL": "https://logg.stafett.kommune.no",
    "STAFETT_IDPORTEN_ISSUER": "https://idporten.no",
    "STAFETT_IDPORTEN_CLIENT_ID": "idporten-client",
    "STAFETT_ANSATTPORTEN_ISSUER": "https://ansattporten.no",
    "STAFETT_ANSATTPORTEN_CLIENT_ID": "ansattporten-client",
}


def test_local_defaults_use_the_built_in_test_idp() -> None:
    settings = Settings.from_env({})
    assert settings.mode is Mode.LOCAL
    assert settings.test_idp
    assert settings.idporten_issuer == "http://127.0.0.1:8001/test-idp"
    assert settings.ansattporten_issuer == "http://127.0.0.1:8001/test-idp"
    assert settings.guardian_acr == "idporten-loa-high"
    assert settings.staff_acr == "idporten-loa-substantial"
    assert settings.session_cookie_name == "stafett_session"
    assert settings.database_url == "sqlite+aiosqlite:///var/auth.db"
    assert settings.kek_file == Path("var/keys/kek")
    assert settings.portal_client_jwks_file == Path("var/keys/portal-client.public.json")


def test_portal_jwks_lies_beside_the_portal_key_unless_given() -> None:
    settings = Settings.from_env({"STAFETT_PORTAL_CLIENT_KEY_FILE": "/etc/stafett/portal.json"})
    assert settings.portal_client_jwks_file == Path("/etc/stafett/portal.public.json")


def test_test_idp_refuses_to_start_in_production_mode() -> None:
    with pytest.raises(SettingsError, match="STAFETT_TEST_IDP"):
        Settings.from_env(PRODUCTION | {"STAFETT_TEST_IDP": "true"})


def test_production_requires_the_identity_providers() -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != "STAFETT_IDPORTEN_ISSUER"}
    with pytest.raises(SettingsError, match="STAFETT_IDPORTEN_ISSUER"):
        Settings.from_env(environ)


def test_production_uses_secure_host_cookie() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert not settings.test_idp
    assert settings.secure_cookies
    assert settings.session_cookie_name == "__Host-stafett_session"


def test_production_refuses_plain_http() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(PRODUCTION | {"STAFETT_AUTH_URL": "http://stafett.kommune.no"})


def test_production_app_refuses_missing_secret_files(tmp_path: Path) -> None:
    settings = Settings.from_env(PRODUCTION | {"STAFETT_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="does not exist"):
        create_app(settings)
    assert not (tmp_path / "keys" / "kek").exists()


def test_bad_values_are_named() -> None:
    with pytest.raises(SettingsError, match="STAFETT_MODE"):
        Settings.from_env({"STAFETT_MODE": "staging"})
    with pytest.raises(SettingsError, match="STAFETT_TEST_IDP"):
        Settings.from_env({"STAFETT_TEST_IDP": "maybe"})
