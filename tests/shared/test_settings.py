from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import (
    Mode,
    SettingsError,
    env_bool,
    env_int,
    env_str,
    host_and_port,
    load_or_create_secret,
)


def test_env_str_reads_a_file_named_by_the_file_variable(tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql+asyncpg://db/logg\n")
    assert env_str({"X_FILE": str(secret), "X": "ignored"}, "X") == "postgresql+asyncpg://db/logg"


def test_missing_setting_names_the_variable_not_a_value() -> None:
    with pytest.raises(SettingsError, match="X must be set"):
        env_str({}, "X")


def test_numbers_and_booleans_are_validated() -> None:
    assert env_int({"N": "5"}, "N", 1) == 5
    assert env_bool({"B": "off"}, "B", True) is False
    with pytest.raises(SettingsError):
        env_int({"N": "fem"}, "N", 1)
    with pytest.raises(SettingsError):
        env_bool({"B": "kanskje"}, "B", True)


def test_host_and_port_from_url() -> None:
    assert host_and_port("http://127.0.0.1:8002") == ("127.0.0.1", 8002)
    assert host_and_port("https://stafett.kommune.no") == ("stafett.kommune.no", 443)


def test_local_mode_creates_a_private_secret_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek"
    first = load_or_create_secret(path, mode=Mode.LOCAL)
    assert len(first) == 32
    assert path.stat().st_mode & 0o077 == 0
    assert load_or_create_secret(path, mode=Mode.LOCAL) == first


def test_production_mode_never_invents_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_or_create_secret(tmp_path / "kek", mode=Mode.PRODUCTION)
    short = tmp_path / "short"
    short.write_text("YWJj")
    with pytest.raises(SettingsError, match="fewer than"):
        load_or_create_secret(short, mode=Mode.PRODUCTION)
