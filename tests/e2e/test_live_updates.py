"""Live updates in a real Chromium: one person has the log open, another writes an entry, and it
appears on the first person's page without a reload (htmx's SSE extension, services/portal/live.py
and logg's event stream, three real processes)."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageFactory, log_in, new_log_with_guardian, screenshot
from tests.product import RunningProduct

pytestmark = pytest.mark.e2e


def test_an_entry_written_by_one_person_appears_on_anothers_open_page(
    product: RunningProduct, new_page: PageFactory
) -> None:
    text = f"Emma leste høyt for klassen {secrets.token_hex(4)}"
    draft = "Et utkast som ikke skal forsvinne"

    coordinator = new_page()
    log_in(coordinator, product, "Siri Stafett", "Logg inn som ansatt")
    log_url = new_log_with_guardian(coordinator, "Leser lite hjemme")

    guardian = new_page()
    log_in(guardian, product, "Kari Nordmann", "Logg inn med ID-porten")
    with guardian.expect_response(lambda r: "/hendelser" in r.url) as stream:
        guardian.goto(log_url)
    assert stream.value.status == 200
    assert stream.value.headers["content-type"].startswith("text/event-stream")
    expect(guardian.get_by_role("heading", level=1)).to_have_text("Emma Nordmann")
    guardian.get_by_label("Tekst").fill(draft)  # typing, when the entry arrives
    navigations: list[str] = []
    guardian.on("framenavigated", lambda frame: navigations.append(frame.url))

    coordinator.get_by_label("Type", exact=True).select_option("observation")
    coordinator.get_by_label("Tekst").fill(text)
    coordinator.get_by_role("button", name="Lagre oppføring").click()
    expect(coordinator.get_by_text(text)).to_be_visible()

    expect(guardian.get_by_text(text)).to_be_visible(timeout=15_000)
    expect(guardian.locator("#live-status")).to_have_text("Ny oppføring")
    expect(guardian.get_by_label("Tekst")).to_have_value(draft)  # nothing typed was lost
    assert navigations == []  # no reload
    screenshot(guardian, "live-update-guardian")
