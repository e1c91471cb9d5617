"""Where each service's settings, app factory and migrations are, for the command line."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SERVICE_NAMES", "ServiceSpec", "service_spec"]

SERVICE_NAMES = ("auth", "logg", "portal")
_WITH_DATABASE = frozenset({"auth", "logg"})


class _Settings(Protocol):
    @property
    def mode(self) -> Any: ...


@dataclass(frozen=True)
class ServiceSpec:
    name: str

    @property
    def package(self) -> str:
        return f"services.{self.name}"

    def load_settings(self, environ: Mapping[str, str]) -> Any:
        module = importlib.import_module(f"{self.package}.settings")
        return module.Settings.from_env(environ)

    def create_app(self, settings: Any) -> Any:
        module = importlib.import_module(f"{self.package}.app")
        return module.create_app(settings)

    @property
    def migrations_dir(self) -> Path | None:
        if self.name not in _WITH_DATABASE:
            return None
        package = importlib.import_module(self.package)
        return Path(str(package.__file__)).parent / "migrations"

    def base_url(self, settings: Any) -> str:
        return str(getattr(settings, f"{self.name}_url"))


def service_spec(name: str) -> ServiceSpec:
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; choose one of {', '.join(SERVICE_NAMES)}")
    return ServiceSpec(name)
