"""Notifications through the real product: three processes, auth's notifier on a five-second
interval, and a real SMTP server (aiosmtpd) in the test. People choose on «Varsler»; a guardian's
entry with a canary text e-mails the coordinator and the teacher (not her), with no trace of the
child, the title or the text; a measure due soon is reminded of once."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from shared.db import create_engine
from stafett.webclient import PortalBrowser
from tests.auth.test_notifications import Inbox, free_port
from tests.product import RunningProduct, running_product

pytestmark = pytest.mark.integration

KARI_PID = "12838510068"
INTERVAL = 5


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    received, port = Inbox(), free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield received, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    return smtp_server[0]


@pytest.fixture(scope="module")
def product(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: tuple[Inbox, int]
) -> Iterator[RunningProduct]:
    smtp = {
        "STAFETT_SMTP_HOST": "127.0.0.1",
        "STAFETT_SMTP_PORT": str(smtp_server[1]),
        "STAFETT_SMTP_STARTTLS": "false",
        "STAFETT_SMTP_FROM": "varsel@kommune.example.no",
        "STAFETT_NOTIFY_INTERVAL_SECONDS": str(INTERVAL),
    }
    with running_product(tmp_path_factory.mktemp("product"), extra_environ=smtp) as running:
        yield running


def _wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"waited {seconds} s for {what}")


def _cursor_is_set(product: RunningProduct) -> bool:
    async def read() -> bool:
        engine = create_engine(product.auth_database_url)
        try:
            async with engine.connect() as connection:
                row = await connection.execute(text("SELECT count(*) FROM notification_cursors"))
                return bool(row.scalar())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _choose(product: RunningProduct, name: str, kind: str, address: str) -> None:
    with PortalBrowser(product.portal_url, product.auth_url) as person:
        person.login(name, kind=kind)
        page = person.get("/varsler")
        saved = person.submit_button(page, "Lagre", {"email": address, "varsler": "på"})
        assert "Valgene dine er lagret." in saved.text, saved.text


def _to(inbox: Inbox, subject_start: str) -> list[str]:
    return sorted(
        address
        for rcpts, message in inbox.messages
        if str(message["Subject"]).startswith(subject_start)
        for address in rcpts
    )


def test_entries_and_a_due_measure_are_told_by_content_free_e_mail(
    product: RunningProduct, inbox: Inbox
) -> None:
    canary = f"KANARI-{secrets.token_hex(8)}"
    _choose(product, "Siri Stafett", "staff", "siri@helse.example.no")
    _choose(product, "Lars Lærer", "staff", "lars@skole.example.no")
    _choose(product, "Kari Nordmann", "guardian", "kari@example.no")
    _wait_for(lambda: _cursor_is_set(product), 4 * INTERVAL, "the notifier's first round")
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        log_id = coordinator.create_stafettlogg(
            "Emma Nordmann", "2016-05-03", f"Trøtt på skolen {canary}"
        )
        coordinator.add_guardian(log_id, KARI_PID)
        coordinator.add_service(log_id, "sentrum-skole")
    with PortalBrowser(product.portal_url, product.auth_url) as guardian:
        guardian.login("Kari Nordmann", kind="guardian")
        guardian.give_consent(log_id, "sentrum-skole")
        guardian.write_entry(log_id, "observation", f"Emma sov dårlig i natt. {canary}")
    _wait_for(
        lambda: (
            set(_to(inbox, "Ny oppføring")) >= {"siri@helse.example.no", "lars@skole.example.no"}
        ),
        6 * INTERVAL,
        "the new-entry e-mails",
    )
    assert "kari@example.no" not in _to(inbox, "Ny oppføring")  # she wrote the only entry
    due = datetime.now(ZoneInfo("Europe/Oslo")).date() + timedelta(days=2)
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        coordinator.write_entry(
            log_id,
            "measure",
            f"Ekstra oppfølging i lesing {canary}",
            {
                "responsible": "Lars Lærer",
                "evaluate_on": due.isoformat(),
                "measure_status": "planned",
            },
        )
    everyone = ["kari@example.no", "lars@skole.example.no", "siri@helse.example.no"]
    _wait_for(lambda: _to(inbox, "Påminnelse") == everyone, 6 * INTERVAL, "the reminders")
    time.sleep(2 * INTERVAL + 1)  # two more rounds: no second reminder
    assert _to(inbox, "Påminnelse") == everyone
    for _, message in inbox.messages:
        assert isinstance(message, EmailMessage)
        raw = message.as_string()
        for secret in (canary, "Emma", "Nordmann", "Trøtt", "Sentrum skole", log_id):
            assert secret not in raw
        assert product.portal_url in message.get_content()
    assert canary not in product.service_output()
    for address in everyone:
        assert address not in product.service_output()  # addresses are never logged
