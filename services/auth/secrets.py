"""A secret read from the environment (a client secret, the KEK, a Vault token, the SMTP
password), kept out of every repr() and str() so that it cannot reach a log line."""

from __future__ import annotations

from collections.abc import Mapping

from shared.settings import env_str

__all__ = ["Secret", "env_optional", "env_secret"]


class Secret:
    """A secret value: never shown by repr() or str(); `reveal()` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def env_optional(environ: Mapping[str, str], name: str) -> str | None:
    """The value of `name` or of the file `<name>_FILE` names (`shared.settings.env_str`), or
    None when neither is set."""
    if environ.get(name) or environ.get(f"{name}_FILE"):
        return env_str(environ, name)
    return None


def env_secret(environ: Mapping[str, str], name: str) -> Secret | None:
    """As `env_optional`, the value kept in a `Secret`."""
    value = env_optional(environ, name)
    return None if value is None else Secret(value)
