"""The notifier end to end: auth (with its notifier) and logg as real apps, a real SMTP server
(aiosmtpd on 127.0.0.1), and what arrives there: one content-free e-mail per person, never to
the author, never to someone who turned notifications off, and a reminder for a measure due for
evaluation exactly once."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from aiosmtpd.controller import Controller
from joserfc.jwk import KeySet, OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.app import create_app
from services.auth.notifications.notifier import Notifier, RoundReport, norwegian_today
from services.auth.settings import Settings
from services.logg.app import create_app as create_logg_app
from services.logg.database import migrate as migrate_logg
from services.logg.settings import Settings as LoggSettings
from shared.wire import NewEntry
from tests.auth.conftest import KARI, SIRI
from tests.auth.helpers import AUTH_URL, PORTAL_URL, RewritingTransport
from tests.auth.test_directory_admin import LARS, OLA, Admin, _claims, _login_cookie, _token
from tests.conftest import DatabaseFactory
from tests.logg.helpers import Actor, LoggApi, TokenMinter, new_id, seal

CANARY = "KANARIFUGL-7f3a Emma Nordmann har det vondt hjemme"
CHILD = "Emma"
LOGG_URL = "http://127.0.0.1:8002"

# -- a real SMTP server -------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server accepted: each message as parsed, with its envelope recipients."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.messages if address in rcpts]

    def clear(self) -> None:
        self.messages.clear()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# -- auth and logg as apps, the notifier's HTTP into logg ---------------------------------------


class IntoSyncClient(httpx.AsyncBaseTransport):
    """Carries the notifier's requests into logg's TestClient (which runs logg in its own event
    loop), from a worker thread so neither loop blocks the other."""

    def __init__(self) -> None:
        self.client: TestClient[Litestar] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.client is not None, "logg is not started"
        client = self.client
        body = await request.aread()
        target = request.url.raw_path.decode("ascii")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        answer = await asyncio.to_thread(
            client.request, request.method, target, headers=headers, content=body
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


class CombinedKeys:
    """logg trusts the test minter (participants' tokens) and auth's real JWKS (the notifier)."""

    def __init__(self, minter: TokenMinter) -> None:
        self.keys = list(minter.public_keys.keys)

    async def __call__(self, _kid: str | None) -> KeySet:
        return KeySet(self.keys)


@pytest.fixture
def environ(environ: dict[str, str], smtp: tuple[Inbox, int]) -> dict[str, str]:
    return {
        **environ,
        "STAFETT_LOGG_URL": LOGG_URL,
        "STAFETT_SMTP_HOST": "127.0.0.1",
        "STAFETT_SMTP_PORT": str(smtp[1]),
        "STAFETT_SMTP_STARTTLS": "false",  # local mode; production refuses this
        "STAFETT_SMTP_FROM": "varsel@kommune.example.no",
        "STAFETT_NOTIFY_INTERVAL_SECONDS": "86400",  # the test runs the rounds itself
    }


@pytest.fixture
def into_logg() -> IntoSyncClient:
    return IntoSyncClient()


@pytest.fixture
def app(settings: Settings, transport: RewritingTransport, into_logg: IntoSyncClient) -> Litestar:
    application = create_app(settings, http_transport=transport, logg_transport=into_logg)
    transport.attach(application)
    return application


@pytest.fixture
def minter() -> TokenMinter:
    return TokenMinter(issuer=AUTH_URL)


@pytest.fixture
def logg(
    client: TestClient[Litestar],
    database_url: DatabaseFactory,
    tmp_path: Path,
    minter: TokenMinter,
    into_logg: IntoSyncClient,
) -> Iterator[LoggApi]:
    url = database_url("logg")
    migrate_logg(url)
    settings = LoggSettings.from_env(
        {
            "STAFETT_LOGG_DATABASE_URL": url,
            "STAFETT_AUTH_URL": AUTH_URL,
            "STAFETT_DATA_DIR": str(tmp_path / "logg"),
        }
    )
    keys = CombinedKeys(minter)
    keys.keys += KeySet.import_key_set(client.get("/.well-known/jwks.json").json()).keys
    with TestClient(create_logg_app(settings, key_source=keys)) as logg_client:
        into_logg.client = logg_client
        yield LoggApi(logg_client, minter)
        into_logg.client = None


def run_round(client: TestClient[Litestar], app: Litestar) -> RoundReport:
    notifier: Notifier = app.state.notifier
    report: RoundReport = client.blocking_portal.call(notifier.run_once)
    return report


# -- people --------------------------------------------------------------------------------------


@dataclass
class Person:
    subject: str
    address: str
    preferences: Admin  # calls auth as this person


def _person(client: TestClient[Litestar], key: OKPKey, kind: str, pid: str, address: str) -> Person:
    cookie = _login_cookie(client, kind, pid)
    subject = _claims(_token(client, key, cookie))["sub"]
    person = Person(subject, address, Admin(client, key, cookie))
    answer = person.preferences(
        "PUT", "/notifications/preferences", json={"email": address, "enabled": True}
    )
    assert answer.status_code == 200, answer.text
    return person


@dataclass
class Cast:
    kari: Person  # guardian, writes
    siri: Person  # coordinator (staff, Helsestasjonen i Sentrum)
    lars: Person  # teacher: takes part through Sentrum skole's consent
    ola: Person  # a guardian who takes no part
    coordinator: Actor
    guardian: Actor
    log_id: str
    key: bytes


@pytest.fixture
def cast(client: TestClient[Litestar], portal_key: OKPKey, logg: LoggApi) -> Cast:
    kari = _person(client, portal_key, "guardian", KARI, "kari@example.no")
    siri = _person(client, portal_key, "staff", SIRI, "siri@helse.kommune.example.no")
    lars = _person(client, portal_key, "staff", LARS, "Lars.Laerer@Skole.Example.NO")
    ola = _person(client, portal_key, "guardian", OLA, "ola@example.no")
    coordinator = Actor(siri.subject, "staff", "helsestasjon-sentrum")
    guardian = Actor(kari.subject, "guardian", None)
    school = Actor(new_id("unit"), "staff", "sentrum-skole")
    log_id, key = logg.create(
        coordinator, participants=[(guardian, "person", "writer"), (school, "service", "reader")]
    )
    logg.consent(log_id, coordinator, key, "sentrum-skole")
    return Cast(kari, siri, lars, ola, coordinator, guardian, log_id, key)


def write(
    logg: LoggApi,
    cast: Cast,
    author: Actor,
    *,
    entry_type: str = "observation",
    due_on: date | None = None,
    refers_to: str | None = None,
) -> str:
    sealed = seal(
        author, cast.log_id, cast.key, entry_type=entry_type, plaintext=CANARY.encode("utf-8")
    )
    body = NewEntry(sealed=sealed, due_on=due_on, refers_to=refers_to)
    answer = logg.post(f"/stafettlogger/{cast.log_id}/entries", body, author)
    assert answer.status_code == 201, answer.text
    return sealed.header.entry_id


def assert_content_free(inbox: Inbox, cast: Cast) -> None:
    assert inbox.messages, "nothing arrived to check"
    for _, message in inbox.messages:
        raw = message.as_string()
        body = message.get_content().replace("\r\n", "\n")
        for secret in (CANARY, "KANARIFUGL", CHILD, cast.log_id, "Sentrum skole", "Helsestasjon"):
            assert secret not in raw
        assert f"{PORTAL_URL}\n" in body  # where to log in, and nothing else
        assert message["From"] == "varsel@kommune.example.no"


def addressed(inbox: Inbox) -> list[str]:
    return sorted(address for rcpts, _ in inbox.messages for address in rcpts)


# -- the tests -----------------------------------------------------------------------------------


def test_new_entries_mail_each_participant_once_never_the_author_and_nothing_of_the_content(
    client: TestClient[Litestar], app: Litestar, logg: LoggApi, cast: Cast, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    first = run_round(client, app)  # the first round only marks where "new" begins
    assert first.sent == 0
    assert inbox.messages == []
    write(logg, cast, cast.guardian)
    write(logg, cast, cast.guardian)
    report = run_round(client, app)
    assert report.entries == 2
    # Siri coordinates, Lars reads through his school's consent; Kari wrote, Ola takes no part.
    assert addressed(inbox) == ["Lars.Laerer@skole.example.no", "siri@helse.kommune.example.no"]
    assert all(m["Subject"] == "Ny oppføring i stafettloggen" for _, m in inbox.messages)
    assert "nye oppføringer i en stafettlogg du deltar i" in inbox.messages[0][1].get_content()
    assert_content_free(inbox, cast)
    inbox.clear()
    assert run_round(client, app).sent == 0  # nothing new: nothing sent again
    assert inbox.messages == []
    write(logg, cast, cast.coordinator)
    run_round(client, app)
    assert addressed(inbox) == ["Lars.Laerer@skole.example.no", "kari@example.no"]


def test_nobody_is_mailed_who_turned_notifications_off_or_removed_the_address(
    client: TestClient[Litestar], app: Litestar, logg: LoggApi, cast: Cast, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    run_round(client, app)
    off = cast.lars.preferences(
        "PUT", "/notifications/preferences", json={"email": cast.lars.address, "enabled": False}
    )
    assert off.status_code == 200, off.text
    gone = cast.siri.preferences(
        "PUT", "/notifications/preferences", json={"email": None, "enabled": True}
    )
    assert gone.status_code == 200, gone.text
    write(logg, cast, cast.guardian)
    report = run_round(client, app)
    assert report.entries == 1
    assert inbox.messages == []
    write(logg, cast, cast.coordinator)
    run_round(client, app)
    assert addressed(inbox) == ["kari@example.no"]


def test_a_message_queued_before_someone_turns_notifications_off_is_not_sent(
    client: TestClient[Litestar], app: Litestar, logg: LoggApi, cast: Cast, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    run_round(client, app)
    write(logg, cast, cast.guardian)
    notifier: Notifier = app.state.notifier
    # The feed is read and the messages queued, but the SMTP server is not reached yet ...
    client.blocking_portal.call(notifier._new_entries, RoundReport())
    cast.lars.preferences(
        "PUT", "/notifications/preferences", json={"email": cast.lars.address, "enabled": False}
    )
    # ... and when it is, the choice made meanwhile counts.
    report: RoundReport = client.blocking_portal.call(notifier.send_outbox)
    assert report.sent == 1
    assert report.dropped == 1
    assert addressed(inbox) == ["siri@helse.kommune.example.no"]


def test_a_measure_due_soon_is_reminded_of_once_and_not_after_its_evaluation(
    client: TestClient[Litestar],
    app: Litestar,
    settings: Settings,
    transport: RewritingTransport,
    into_logg: IntoSyncClient,
    logg: LoggApi,
    cast: Cast,
    smtp: tuple[Inbox, int],
) -> None:
    inbox = smtp[0]
    run_round(client, app)
    today = norwegian_today()
    write(logg, cast, cast.coordinator, entry_type="measure", due_on=today + timedelta(days=2))
    evaluated = write(
        logg, cast, cast.coordinator, entry_type="measure", due_on=today + timedelta(days=1)
    )
    write(logg, cast, cast.coordinator, entry_type="measure", due_on=today + timedelta(days=10))
    write(logg, cast, cast.guardian, entry_type="evaluation", refers_to=evaluated)
    report = run_round(client, app)
    assert report.reminders == 1  # the measure due in two days; not the evaluated, not the far
    reminders = [m for _, m in inbox.messages if m["Subject"].startswith("Påminnelse")]
    # Everyone taking part is reminded (the responsible person is inside the sealed text).
    assert sorted(str(m["To"]) for m in reminders) == [
        "Lars.Laerer@skole.example.no",
        "kari@example.no",
        "siri@helse.kommune.example.no",
    ]
    assert "skal snart evalueres" in reminders[0].get_content()
    assert_content_free(inbox, cast)
    inbox.clear()
    assert run_round(client, app).reminders == 0
    # A restart (a new auth on the same database) reminds of nothing again.
    restarted = create_app(settings, http_transport=transport, logg_transport=into_logg)
    with TestClient(restarted, base_url=AUTH_URL) as again:
        assert run_round(again, restarted).reminders == 0
    assert inbox.messages == []


def test_notifier_round_leaves_a_record_in_the_access_log(
    client: TestClient[Litestar], app: Litestar, logg: LoggApi, cast: Cast
) -> None:
    run_round(client, app)
    write(logg, cast, cast.guardian)
    run_round(client, app)
    records = logg.get(f"/stafettlogger/{cast.log_id}/access-records", cast.guardian).json()[
        "items"
    ]
    feed_reads = [r for r in records if r["action"] == "read-notification-feed"]
    assert feed_reads
    assert feed_reads[0]["subject"] == "stafett-notifier"
    assert feed_reads[0]["decision"] == "allowed"


def test_the_smtp_server_being_down_keeps_the_message_for_the_next_round(
    client: TestClient[Litestar], app: Litestar, logg: LoggApi, cast: Cast, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    run_round(client, app)
    write(logg, cast, cast.guardian)
    notifier: Notifier = app.state.notifier
    mailer = notifier._mailer
    real_port = mailer._settings.smtp_port
    mailer._settings = msgspec.structs.replace(mailer._settings, smtp_port=free_port())
    failed = run_round(client, app)
    assert failed.failed == 1
    assert failed.sent == 0
    assert inbox.messages == []
    mailer._settings = msgspec.structs.replace(mailer._settings, smtp_port=real_port)
    again = run_round(client, app)
    assert again.sent == 2
    assert addressed(inbox) == ["Lars.Laerer@skole.example.no", "siri@helse.kommune.example.no"]
