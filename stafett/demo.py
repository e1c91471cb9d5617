"""`stafett demo`: fill a running instance with demo logs from `deploy/demo/demo.json`.

Goes through the same path as people do: test persons log in through the test IdP, and every
log, participant, consent and entry is made through the portal's own forms — so every entry is
sealed in the portal before logg sees it, and the services' staff write only once a guardian has
given their service consent."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import msgspec

from stafett.webclient import PortalBrowser, PortalError

__all__ = [
    "DEFAULT_DEMO_FILE",
    "DemoConsent",
    "DemoData",
    "fill",
    "load_demo_data",
    "run_demo",
]

# The demo clicks faster than a person: when auth's per-account rate limit on token exchange
# stops a burst, the portal answers 503 and the demo waits before trying again.
_PATIENCE = 15.0
DEFAULT_DEMO_FILE = Path(__file__).resolve().parent.parent / "deploy" / "demo" / "demo.json"


class DemoEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"login": "as"}):
    author: str
    login: Literal["guardian", "staff"]
    type: str
    text: str
    fields: dict[str, str] = {}  # the fields of a structured type ("@first": first option)


class DemoConsent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A guardian (by name, logged in through the test IdP) gives a service unit consent."""

    guardian: str
    service: str


class DemoLog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    coordinator: str
    child_name: str
    child_birth_date: str
    title: str
    guardians: list[str]
    services: list[str]
    entries: list[DemoEntry]
    consents: list[DemoConsent] = []


class DemoData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    about: str
    logs: list[DemoLog]


def load_demo_data(path: Path) -> DemoData:
    return msgspec.json.decode(path.read_bytes(), type=DemoData)


class _Browsers:
    """One logged-in browser per person, reused across logs."""

    def __init__(self, portal_url: str, auth_url: str, stack: ExitStack) -> None:
        self._portal_url = portal_url
        self._auth_url = auth_url
        self._stack = stack
        self._open: dict[str, PortalBrowser] = {}

    def as_person(self, name: str, kind: str) -> PortalBrowser:
        if name not in self._open:
            browser = self._stack.enter_context(
                PortalBrowser(self._portal_url, self._auth_url, patience=_PATIENCE)
            )
            browser.login(name, kind=kind)
            self._open[name] = browser
        return self._open[name]


def fill(portal_url: str, auth_url: str, data: DemoData) -> Iterator[str]:
    """Create every demo log; yields a line of progress per log."""
    with ExitStack() as stack:
        browsers = _Browsers(portal_url, auth_url, stack)
        for log in data.logs:
            coordinator = browsers.as_person(log.coordinator, "staff")
            stafettlogg_id = coordinator.create_stafettlogg(
                log.child_name, log.child_birth_date, log.title
            )
            for pid in log.guardians:
                coordinator.add_guardian(stafettlogg_id, pid)
            for service_id in log.services:
                coordinator.add_service(stafettlogg_id, service_id)
            for consent in log.consents:  # before the services' staff can read or write
                guardian = browsers.as_person(consent.guardian, "guardian")
                guardian.give_consent(stafettlogg_id, consent.service)
            for entry in log.entries:
                author = browsers.as_person(entry.author, entry.login)
                author.write_entry(stafettlogg_id, entry.type, entry.text, entry.fields)
            address = f"{portal_url}/stafettlogger/{stafettlogg_id}"
            yield f"  {log.child_name}: {len(log.entries)} oppføringer ({address})"


def run_demo(environ: Mapping[str, str], file: str | None) -> int:
    portal_url = environ.get("STAFETT_PORTAL_URL", "http://127.0.0.1:8000")
    auth_url = environ.get("STAFETT_AUTH_URL", "http://127.0.0.1:8001")
    data = load_demo_data(Path(file) if file else DEFAULT_DEMO_FILE)
    print(f"Fyller {portal_url} med {len(data.logs)} demologger …", flush=True)
    try:
        for line in fill(portal_url, auth_url, data):
            print(line, flush=True)
    except (PortalError, OSError) as error:
        print(f"stafett demo: {error}. Kjører produktet? Start det med: make run", file=sys.stderr)
        return 1
    print("Ferdig. Logg inn som Siri Stafett eller Kari Nordmann for å se loggene.")
    return 0
