"""`stafett run`: the whole product on this machine, as three separate processes.

Prepares what local mode needs (data directory, generated secrets, migrations), starts auth,
logg and portal as child processes on loopback, waits until each answers /healthz, prints where
to go, and stops them all cleanly on Ctrl-C or when one of them dies.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import httpx

from stafett.services import SERVICE_NAMES, service_spec

__all__ = ["run_all", "start_services", "stop_services", "wait_until_healthy"]

_STARTUP_TIMEOUT = 60.0


def start_services(
    environ: Mapping[str, str], *, log_dir: Path | None = None
) -> list[subprocess.Popen[bytes]]:
    """Start the three services as child processes with `environ`. Migrations must be applied."""
    processes: list[subprocess.Popen[bytes]] = []
    for name in SERVICE_NAMES:
        command = [sys.executable, "-m", "stafett", "serve", name]
        if log_dir is None:
            processes.append(subprocess.Popen(command, env=dict(environ)))  # noqa: S603 - fixed
            continue
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{name}.log").open("wb") as output:  # the child keeps its own copy
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
                    command, env=dict(environ), stdout=output, stderr=subprocess.STDOUT
                )
            )
    return processes


def stop_services(processes: list[subprocess.Popen[bytes]], *, timeout: float = 10.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(
    urls: Mapping[str, str],
    processes: list[subprocess.Popen[bytes]],
    *,
    timeout: float = _STARTUP_TIMEOUT,
) -> None:
    """Block until every service answers 200 on /healthz; raise if one dies or time runs out."""
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a service stopped at start (exit {process.returncode})")
            for name, url in list(pending.items()):
                try:
                    if client.get(f"{url}/healthz").status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not healthy in time: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.2)


def service_urls(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: service_spec(name).base_url(service_spec(name).load_settings(environ))
        for name in SERVICE_NAMES
    }


def run_all(environ: Mapping[str, str], *, banner: bool = True) -> int:
    from stafett.cli import migrate_services

    environment = dict(environ)
    migrate_services(SERVICE_NAMES, environment)
    urls = service_urls(environment)
    processes = start_services(environment)
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        wait_until_healthy(urls, processes)
        if banner:
            print(_banner(urls), flush=True)
        while not stopping:
            if any(process.poll() is not None for process in processes):
                print("stafett: a service stopped; stopping the others", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as error:
        print(f"stafett: {error}", file=sys.stderr)
        return 1
    finally:
        stop_services(processes)
        if banner:
            print("stafett: stopped", flush=True)


def _banner(urls: Mapping[str, str]) -> str:
    from services.auth.test_idp.persons import SYNTHETIC_PERSONS, SYNTHETIC_SERVICE_UNITS

    services = {unit.id: unit.name for unit in SYNTHETIC_SERVICE_UNITS}
    people = "\n".join(
        f"    {person.name:<15} {person.pid}  "
        + (
            f"{person.title}, {services.get(person.service_id or '', '')} (logg inn som ansatt)"
            if person.kind == "staff"
            else f"{person.title or 'foresatt'} (logg inn med ID-porten)"
        )
        for person in SYNTHETIC_PERSONS
    )
    return f"""
Stafettlogg kjører.

  Portal:  {urls["portal"]}      ← åpne denne i nettleseren
  auth:    {urls["auth"]}      (test-ID-porten: {urls["auth"]}/test-idp)
  logg:    {urls["logg"]}      (API: {urls["logg"]}/schema)

  Testpersoner i test-ID-porten (syntetiske fødselsnumre):
{people}

  Fyll inn demodata i en annen terminal: make demo
  Stopp med Ctrl-C.
""".rstrip()
