"""Choosing a language in real Chromium: the switch on every page changes the page (and the test
IdP's login page, through `ui_locales`), without JavaScript doing the work, and axe still finds
nothing that breaks WCAG 2.1 AA in nynorsk or English."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_accessibility as accessibility
from tests.e2e.test_accessibility import Auditor
from tests.product import RunningProduct

pytestmark = pytest.mark.e2e

# The accessibility tests' fixtures: axe-core from its npm package, and the auditor that runs it.
axe_source = accessibility.axe_source
auditor = accessibility.auditor

PageFactory = Callable[[], Page]


def test_a_guardian_switches_to_nynorsk_then_english_and_every_page_follows(
    product: RunningProduct, new_page: PageFactory, auditor: Auditor
) -> None:
    page = new_page()
    page.goto(product.portal_url)
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.get_by_role("link", name="Logg inn som ansatt")).to_be_visible()

    page.get_by_role("button", name="Nynorsk").click()
    expect(page.locator("html")).to_have_attribute("lang", "nn")
    expect(page.get_by_role("link", name="Logg inn som tilsett")).to_be_visible()
    expect(page.get_by_role("button", name="Nynorsk")).to_have_attribute("aria-current", "true")
    auditor.audit(page, "language-front-nn", phone=True)

    page.get_by_role("link", name="Logg inn med ID-porten").click()
    expect(page.locator("html")).to_have_attribute("lang", "nn")  # the test IdP, via ui_locales
    expect(page.get_by_text("Vel kven du vil logge inn som.")).to_be_visible()
    auditor.audit(page, "language-test-idp-nn")
    page.get_by_role("button", name="Kari Nordmann").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stafettloggane mine")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("My logs")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    auditor.audit(page, "language-front-en", phone=True)

    missing = page.goto(f"{product.portal_url}/finnes-ikke")
    assert missing is not None
    assert missing.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not find the page")
    auditor.audit(page, "language-error-en")

    page.get_by_role("button", name="Bokmål").click()  # back to the same page, in bokmål
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.get_by_role("heading", level=1)).to_have_text("Vi fant ikke siden")
    auditor.assert_clean()
