"""A wrong or missing KEK stops auth at start (file and env backends) with the setting named."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from services.auth.settings import Settings
from shared.settings import SettingsError
from tests.auth.test_custody_vault import refusal_at_start, start_auth


def _new_kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def test_replaced_kek_file_is_refused_at_start(settings: Settings) -> None:
    assert start_auth(settings) == 200
    settings.kek_file.write_text(_new_kek())
    assert "STAFETT_KEK_FILE" in str(refusal_at_start(settings))
    assert "does not open the private keys sealed" in str(refusal_at_start(settings))


def test_missing_kek_file_with_sealed_keys_in_the_database_is_refused_and_not_recreated(
    settings: Settings,
) -> None:
    assert start_auth(settings) == 200
    settings.kek_file.unlink()
    assert "STAFETT_KEK_FILE" in str(refusal_at_start(settings))
    assert not settings.kek_file.exists()


def test_missing_kek_file_is_created_while_the_database_holds_no_sealed_key(
    settings: Settings,
) -> None:
    settings.kek_file.unlink()
    assert start_auth(settings) == 200
    assert settings.kek_file.exists()
    assert start_auth(settings) == 200


def test_env_kek_seals_and_a_different_env_kek_is_refused_at_start(
    environ: dict[str, str],
) -> None:
    env = environ | {"STAFETT_KEK_BACKEND": "env", "STAFETT_KEK": _new_kek()}
    assert start_auth(Settings.from_env(env)) == 200
    assert start_auth(Settings.from_env(env)) == 200
    other = Settings.from_env(env | {"STAFETT_KEK": _new_kek()})
    assert "STAFETT_KEK" in str(refusal_at_start(other))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"STAFETT_KEK_BACKEND": "kms"}, "STAFETT_KEK_BACKEND"),
        ({"STAFETT_KEK_BACKEND": "env"}, "STAFETT_KEK"),
        ({"STAFETT_KEK_BACKEND": "env", "STAFETT_KEK": "not base64!"}, "STAFETT_KEK"),
        ({"STAFETT_KEK_BACKEND": "env", "STAFETT_KEK": "c2hvcnQ="}, "32 bytes"),
        ({"STAFETT_KEK_BACKEND": "vault", "STAFETT_VAULT_TOKEN": "t"}, "STAFETT_VAULT_ADDR"),
        (
            {"STAFETT_KEK_BACKEND": "vault", "STAFETT_VAULT_ADDR": "http://127.0.0.1:8200"},
            "STAFETT_VAULT_TOKEN",
        ),
        (
            {
                "STAFETT_KEK_BACKEND": "vault",
                "STAFETT_VAULT_ADDR": "vault.internal",
                "STAFETT_VAULT_TOKEN": "t",
            },
            "STAFETT_VAULT_ADDR",
        ),
        (
            {
                "STAFETT_KEK_BACKEND": "vault",
                "STAFETT_VAULT_ADDR": "http://127.0.0.1:8200",
                "STAFETT_VAULT_TOKEN": "t",
                "STAFETT_VAULT_TRANSIT_KEY": "../sys",
            },
            "STAFETT_VAULT_TRANSIT_KEY",
        ),
    ],
)
def test_kek_settings_are_validated(
    environ: dict[str, str], overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ | overrides)


def test_vault_token_is_read_from_a_file_and_not_shown(
    environ: dict[str, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "vault-token"
    token_file.write_text("s.from-file\n")
    settings = Settings.from_env(
        environ
        | {
            "STAFETT_KEK_BACKEND": "vault",
            "STAFETT_VAULT_ADDR": "http://127.0.0.1:8200",
            "STAFETT_VAULT_TOKEN_FILE": str(token_file),
        }
    )
    assert settings.vault_token is not None
    assert settings.vault_token.reveal().strip() == "s.from-file"
    assert "s.from-file" not in repr(settings)
