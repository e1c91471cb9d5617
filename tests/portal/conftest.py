"""A portal wired to in-process fakes of auth and logg, and helpers to drive it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import OKPKey
from litestar.testing import TestClient

from services.portal.app import create_app
from services.portal.settings import Settings
from tests.portal.fakes import FakeAuth, FakeLogg, Person, ServiceUnit

_CSRF_HEADER = re.compile(r'"x-csrftoken": "([^"]+)"')


@dataclass
class Portal:
    client: TestClient  # type: ignore[type-arg]  # TestClient is generic over the app type
    auth: FakeAuth
    logg: FakeLogg
    staff: Person
    guardian: Person
    outsider: Person
    school: ServiceUnit

    def log_in(self, person: Person) -> None:
        cookie = f"session-of-{person.subject}"
        self.auth.sessions[cookie] = person.subject
        self.client.cookies.set("stafett_session", cookie)

    def csrf_token(self, path: str = "/") -> str:
        response = self.client.get(path)
        match = _CSRF_HEADER.search(response.text)  # every page gives it to htmx on <body>
        assert match is not None, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(
        self, path: str, data: dict[str, str], *, from_page: str, htmx: bool = False
    ) -> httpx.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        form = {**data, "_csrf_token": self.csrf_token(from_page)}
        response: httpx.Response = self.client.post(
            path, data=form, headers=headers, follow_redirects=False
        )
        return response

    def create_stafettlogg(
        self,
        child_name: str = "Ola Nordmann",
        child_birth_date: str = "2016-05-03",
        title: str = "Trives ikke på skolen",
    ) -> str:
        response = self.post_form(
            "/stafettlogger",
            {"child_name": child_name, "child_birth_date": child_birth_date, "title": title},
            from_page="/stafettlogger/ny",
        )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/stafettlogger/")
        return location.removeprefix("/stafettlogger/")


LoggHandler = Callable[[httpx.Request], httpx.Response]


@contextmanager
def running_portal(
    settings: Settings,
    *,
    auth_class: type[FakeAuth] = FakeAuth,
    logg_class: type[FakeLogg] = FakeLogg,
    logg_handler: Callable[[FakeLogg], LoggHandler] | None = None,
    base_url: str = "http://127.0.0.1:8000",
) -> Iterator[Portal]:
    """The portal wired to fakes of auth and logg (of these classes), with its people and
    service units. `logg_handler` may put something between the portal and the fake logg: it
    gets the fake and returns what answers the portal's logg calls."""
    client_public = OKPKey.import_key(settings.client_key.as_dict(private=False))
    auth = auth_class(settings.auth_url, client_public)
    school = auth.add_service(ServiceUnit("skole-1", "Nordby skole"))
    health = ServiceUnit("helsestasjon-1", "Nordby helsestasjon")
    staff = auth.add_person(Person("staff-1", "Stine Stafettholder", "staff", service=health))
    guardian = auth.add_person(Person("guardian-1", "Gro Foresatt", "guardian", pid="01020312345"))
    outsider = auth.add_person(Person("guardian-2", "Ove Utenfor", "guardian", pid="01020354321"))
    logg = logg_class(auth)
    app = create_app(
        settings,
        auth_transport=httpx.MockTransport(auth.handle),
        logg_transport=httpx.MockTransport(
            logg.handle if logg_handler is None else logg_handler(logg)
        ),
    )
    with TestClient(app=app, base_url=base_url) as client:
        yield Portal(client, auth, logg, staff, guardian, outsider, school)


def local_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"STAFETT_DATA_DIR": str(tmp_path)})


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with running_portal(local_settings(tmp_path)) as running:
        yield running
