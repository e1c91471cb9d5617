"""Reading settings from the environment: explicit, validated at start, never at import time.

Each service defines its own frozen settings struct and builds it with these helpers from one
`Mapping` (normally `os.environ`), so tests pass a plain dict.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "Mode",
    "SettingsError",
    "env_bool",
    "env_int",
    "env_str",
    "host_and_port",
    "load_or_create_secret",
]


class Mode(StrEnum):
    LOCAL = "local"  # plain http on loopback, test IdP allowed, secrets generated under data dir
    PRODUCTION = "production"  # https, every secret given explicitly, test IdP refused


class SettingsError(Exception):
    """A setting is missing or invalid. The message names the variable, never its value."""


def env_str(environ: Mapping[str, str], name: str, default: str | None = None) -> str:
    """The value of `name`, or the content of the file named by `<name>_FILE` (container
    secrets), or `default`. Raises SettingsError when none of them gives a value."""
    file_name = environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as error:
            raise SettingsError(f"{name}_FILE names a file that cannot be read") from error
    value = environ.get(name, default)
    if value is None or value == "":
        raise SettingsError(f"{name} must be set")
    return value


def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a whole number") from error


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false")


def host_and_port(url: str) -> tuple[str, int]:
    """Where a service should bind, from its base URL."""
    parts = urlsplit(url)
    if parts.hostname is None:
        raise SettingsError(f"{url!r} is not an absolute URL")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def load_or_create_secret(path: Path, *, mode: Mode, size: int = 32) -> bytes:
    """Read a base64url secret from `path`. In local mode a missing file is created with a fresh
    random secret (mode 0600); in production a missing or short file is an error, so that no
    secret is ever silently defaulted where it matters."""
    if not path.exists():
        if mode is Mode.PRODUCTION:
            raise SettingsError(f"the secret file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(base64.urlsafe_b64encode(secrets.token_bytes(size)).decode())
        try:  # atomic: a process starting at the same moment reads either nothing or all of it
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    try:
        secret = base64.urlsafe_b64decode(path.read_text().strip())
    except ValueError as error:
        raise SettingsError(f"the secret file {path} is not base64url") from error
    if len(secret) < size:
        raise SettingsError(f"the secret file {path} holds fewer than {size} bytes")
    return secret
