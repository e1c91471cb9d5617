"""The whole product started for real: three processes on loopback, like `make run` does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stafett.supervisor import start_services, stop_services, wait_until_healthy
from tests.databases import TestDatabases

__all__ = ["RunningProduct", "running_product"]


@dataclass(frozen=True)
class RunningProduct:
    portal_url: str
    auth_url: str
    logg_url: str
    data_dir: Path
    log_dir: Path
    auth_database_url: str
    logg_database_url: str

    def service_output(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.log_dir.glob("*.log"))
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_product(
    directory: Path, *, extra_environ: Mapping[str, str] | None = None
) -> Iterator[RunningProduct]:
    """Start auth, logg and portal on free loopback ports with their own data directory and
    fresh databases; stop them and drop the databases afterwards. `extra_environ` adds
    STAFETT_* settings (an SMTP server, say)."""
    databases = TestDatabases(directory)
    data_dir = directory / "var"
    log_dir = directory / "logs"
    product = RunningProduct(
        portal_url=f"http://127.0.0.1:{_free_port()}",
        auth_url=f"http://127.0.0.1:{_free_port()}",
        logg_url=f"http://127.0.0.1:{_free_port()}",
        data_dir=data_dir,
        log_dir=log_dir,
        auth_database_url=databases.url("auth")
        if databases.admin_url
        else f"sqlite+aiosqlite:///{data_dir / 'auth.db'}",
        logg_database_url=databases.url("logg")
        if databases.admin_url
        else f"sqlite+aiosqlite:///{data_dir / 'logg.db'}",
    )
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("STAFETT_")},
        "STAFETT_MODE": "local",
        "STAFETT_DATA_DIR": str(data_dir),
        "STAFETT_PORTAL_URL": product.portal_url,
        "STAFETT_AUTH_URL": product.auth_url,
        "STAFETT_LOGG_URL": product.logg_url,
        "STAFETT_AUTH_DATABASE_URL": product.auth_database_url,
        "STAFETT_LOGG_DATABASE_URL": product.logg_database_url,
        "STAFETT_LOG_LEVEL": "info",
        **(extra_environ or {}),
    }
    subprocess.run(
        [sys.executable, "-m", "stafett", "migrate"], env=environ, check=True, timeout=120
    )
    processes = start_services(environ, log_dir=log_dir)
    try:
        wait_until_healthy(
            {"portal": product.portal_url, "auth": product.auth_url, "logg": product.logg_url},
            processes,
        )
        yield product
    finally:
        stop_services(processes)
        databases.drop_all()
