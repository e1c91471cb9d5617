"""Building the portal's settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.portal.settings import Settings
from shared.settings import Mode, SettingsError


def test_local_defaults_create_the_client_key_and_csrf_secret(tmp_path: Path) -> None:
    settings = Settings.from_env({"STAFETT_DATA_DIR": str(tmp_path)})
    assert settings.mode is Mode.LOCAL
    assert settings.auth_url == "http://127.0.0.1:8001"
    assert settings.logg_url == "http://127.0.0.1:8002"
    assert settings.session_cookie_name == "stafett_session"
    assert (tmp_path / "keys" / "portal-client.json").exists()
    assert (tmp_path / "keys" / "portal-client.public.json").exists()
    assert len(settings.csrf_secret) >= 32
    assert "csrf" not in repr(settings).lower()


def test_production_refuses_missing_keys_and_plain_http(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="STAFETT_AUTH_URL"):
        Settings.from_env(
            {
                "STAFETT_MODE": "production",
                "STAFETT_DATA_DIR": str(tmp_path),
                "STAFETT_PORTAL_URL": "https://stafett.example",
                "STAFETT_AUTH_URL": "http://auth.example",
            }
        )
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_env(
            {
                "STAFETT_MODE": "production",
                "STAFETT_DATA_DIR": str(tmp_path),
                "STAFETT_PORTAL_URL": "https://stafett.example",
                "STAFETT_AUTH_URL": "https://stafett.example/auth",
            }
        )


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="STAFETT_MODE"):
        Settings.from_env({"STAFETT_MODE": "staging", "STAFETT_DATA_DIR": str(tmp_path)})


def test_logout_origins_default_to_the_id_porten_hosts_and_are_validated(tmp_path: Path) -> None:
    from services.portal.settings import DEFAULT_LOGOUT_ORIGINS

    base = {"STAFETT_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).logout_origins == DEFAULT_LOGOUT_ORIGINS
    custom = Settings.from_env({**base, "STAFETT_PORTAL_LOGOUT_ORIGINS": "https://idp.kommune.no"})
    assert custom.logout_origins == ("https://idp.kommune.no",)
    with pytest.raises(SettingsError, match="https origins"):
        Settings.from_env({**base, "STAFETT_PORTAL_LOGOUT_ORIGINS": "http://idp.kommune.no"})
