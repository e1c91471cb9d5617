"""The relying party's settings: client authentication per provider and the required levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.auth.settings import Settings
from shared.settings import SettingsError


def test_client_secret_basic_needs_a_secret_and_keeps_it_out_of_repr(tmp_path: Path) -> None:
    base = {
        "STAFETT_DATA_DIR": str(tmp_path),
        "STAFETT_IDPORTEN_CLIENT_AUTH": "client_secret_basic",
    }
    with pytest.raises(SettingsError, match="STAFETT_IDPORTEN_CLIENT_SECRET"):
        Settings.from_env(base)
    secret_file = tmp_path / "secret"
    secret_file.write_text("hemmelig-verdi\n")
    settings = Settings.from_env(base | {"STAFETT_IDPORTEN_CLIENT_SECRET_FILE": str(secret_file)})
    assert settings.idporten_client_secret is not None
    assert settings.idporten_client_secret.reveal() == "hemmelig-verdi"
    assert "hemmelig" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STAFETT_IDPORTEN_CLIENT_AUTH", "client_secret_post"),
        ("STAFETT_GUARDIAN_ACR", "Level2"),
        ("STAFETT_STAFF_ACR", "entraid"),
    ],
)
def test_unknown_client_auth_or_level_is_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"STAFETT_DATA_DIR": str(tmp_path), name: value})
