"""The walking skeleton's path in a real Chromium, as people would click through it."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NOTICE, PageFactory, log_in, new_log_with_guardian, screenshot
from tests.product import RunningProduct

pytestmark = pytest.mark.e2e


def test_coordinator_guardian_and_teacher_share_an_encrypted_log(
    product: RunningProduct, new_page: PageFactory
) -> None:
    text = f"Emma var glad etter skolen i dag {secrets.token_hex(4)}"

    coordinator = new_page()
    log_in(coordinator, product, "Siri Stafett", "Logg inn som ansatt")
    log_url = new_log_with_guardian(coordinator, "Trøtt på skolen")
    coordinator.get_by_label("Tjeneste", exact=True).select_option("sentrum-skole")
    coordinator.get_by_role("button", name="Legg til tjeneste").click()
    expect(coordinator.get_by_text("Sentrum skole").first).to_be_visible()

    guardian = new_page()
    log_in(guardian, product, "Kari Nordmann", "Logg inn med ID-porten")
    guardian.get_by_role("link", name=re.compile("Emma Nordmann")).click()
    participants = guardian.get_by_role("region", name="Deltakere")
    expect(participants).to_contain_text("venter på samtykke")
    consent = guardian.get_by_role("region", name="Samtykke")
    expect(consent).to_contain_text("Når du gir samtykke, kan de ansatte i Sentrum skole")
    consent.get_by_role("button", name="Gi samtykke").click()
    expect(guardian.locator(NOTICE)).to_contain_text("Du har gitt samtykke")
    expect(consent).to_contain_text("Samtykke gitt til og med")
    expect(participants).not_to_contain_text("venter på samtykke")  # refreshed by htmx
    guardian.get_by_label("Type", exact=True).select_option("observation")
    guardian.get_by_label("Tekst").fill(text)
    guardian.get_by_role("button", name="Lagre oppføring").click()
    expect(guardian.get_by_text(text)).to_be_visible()
    screenshot(guardian, "walking-skeleton-guardian-log")

    teacher = new_page()
    log_in(teacher, product, "Lars Lærer", "Logg inn som ansatt")
    teacher.goto(log_url)
    expect(teacher.get_by_text(text)).to_be_visible()

    coordinator.reload()
    expect(coordinator.get_by_text(text)).to_be_visible()
    expect(coordinator.get_by_role("region", name="Deltakere")).to_contain_text("Kari Nordmann")
    screenshot(coordinator, "walking-skeleton-coordinator-log")

    guardian.get_by_role("link", name="Se hvem som har lest stafettloggen").click()
    expect(guardian.get_by_role("heading", level=1)).to_have_text("Hvem har lest stafettloggen")
    expect(guardian.get_by_role("table")).to_contain_text("Lars Lærer")
    screenshot(guardian, "innsynslogg")
    guardian.go_back()
    guardian.get_by_role("button", name="Trekk tilbake samtykke").click()
    expect(guardian.locator(NOTICE)).to_contain_text("Du har trukket tilbake samtykket")
    teacher.reload()
    expect(teacher.get_by_role("heading", level=1)).to_have_text(
        "Du har ikke tilgang til denne stafettloggen"
    )
    expect(teacher.get_by_text(text)).to_have_count(0)
