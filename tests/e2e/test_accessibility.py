"""WCAG 2.1 AA in real Chromium: axe-core (the npm package pinned in tests/e2e/axe) audits every
page a person can reach, at desktop and at phone width, and any violation fails the test.

axe is put into the page with `page.evaluate(source)` once the page has loaded. Playwright's
evaluation goes through the DevTools protocol, which the page's Content-Security-Policy does not
govern, so the page is audited exactly as it was served, with its strict CSP still on (no
`bypass_csp`, which would change what is audited), and nothing is injected before the page's
own scripts run (as `add_init_script` would). A `<script>` tag (`add_script_tag`) would be
refused by `script-src 'self'`.

Needs Node.js and npm (the fixture runs `npm ci` once if node_modules is missing). Without them
the test is skipped, unless STAFETT_REQUIRE_BROWSER=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from stafett.webclient import PortalBrowser
from tests.e2e.conftest import PageFactory, document_screenshot, invitee_key, log_in, screenshot
from tests.product import RunningProduct

pytestmark = pytest.mark.e2e


AXE_DIR = Path(__file__).parent / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)
_NPM_TIMEOUT = 300

KARI = "12838510068"
ANNE = "30918420041"

_RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return {
    passes: results.passes.length,
    violations: results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      targets: violation.nodes.map((node) => node.target.join(' ')),
    })),
  };
}"""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("STAFETT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"STAFETT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe.min.js from the locked npm package, installed with `npm ci` once."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        _unavailable("Node.js and npm are needed to install axe-core for the accessibility tests")
    if not AXE_SCRIPT.is_file():
        try:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=AXE_DIR,
                check=True,
                capture_output=True,
                timeout=_NPM_TIMEOUT,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            _unavailable(f"`npm ci` for axe-core failed: {error}")
    return AXE_SCRIPT.read_text(encoding="utf-8")


class Auditor:
    """Runs axe on pages and gathers every violation, so one run reports all of them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def audit(self, page: Page, name: str, *, phone: bool = False, document: bool = True) -> None:
        """Audit the page at desktop width (and at phone width too when `phone`), saving a
        screenshot of each into artifacts/ (and, when `document`, for docs/screenshots.md:
        tests/e2e/conftest.py, `document_screenshot`)."""
        sizes = [("desktop", DESKTOP)] + ([("phone", PHONE)] if phone else [])
        for size_name, size in sizes:
            page.set_viewport_size(size)
            self._audit_once(page, f"axe-{name}-{size_name}")
            self._check_reflow(page, f"axe-{name}-{size_name}")
            if document:
                document_screenshot(page, f"{name}-{size_name}")
        page.set_viewport_size(DESKTOP)

    def _audit_once(self, page: Page, label: str) -> None:
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(self.source)
        results: dict[str, Any] = page.evaluate(_RUN_AXE, WCAG_21_AA)
        screenshot(page, label)
        assert results["passes"] > 0, f"axe checked nothing on {label}: did it run?"
        for violation in results["violations"]:
            self.problems.append(
                f"{label} {page.url}: {violation['id']} ({violation['impact']}) "
                f"{violation['help']} -> {violation['targets']}"
            )

    def _check_reflow(self, page: Page, label: str) -> None:
        """WCAG 1.4.10 (which axe does not check): the page itself never scrolls sideways; a
        wide table scrolls inside its own focusable region instead."""
        widths: list[int] = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if widths[0] > widths[1]:
            self.problems.append(
                f"{label} {page.url}: reflow: the page is {widths[0]}px wide in a "
                f"{widths[1]}px viewport"
            )

    def assert_clean(self) -> None:
        report = "\n".join(self.problems)
        assert not self.problems, f"WCAG 2.1 AA violations (axe, reflow):\n{report}"


@pytest.fixture
def auditor(axe_source: str) -> Auditor:
    return Auditor(axe_source)


@pytest.fixture(scope="module")
def stafettlogg_id(product: RunningProduct) -> str:
    """A log with a guardian, a service with consent, and entries: every part of the log page
    has something to show."""
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        log_id = coordinator.create_stafettlogg("Emma Nordmann", "2016-05-03", "Trøtt på skolen")
        coordinator.add_guardian(log_id, KARI)
        coordinator.add_service(log_id, "sentrum-skole")
        coordinator.write_entry(log_id, "observation", "Emma sover dårlig om dagen.")
    with PortalBrowser(product.portal_url, product.auth_url) as guardian:
        guardian.login("Kari Nordmann", kind="guardian")
        guardian.give_consent(log_id, "sentrum-skole")
        guardian.write_entry(log_id, "observation", "Emma var glad etter skolen i dag.")
    with PortalBrowser(product.portal_url, product.auth_url) as teacher:
        teacher.login("Lars Lærer", kind="staff")
        teacher.write_entry(log_id, "observation", "Emma deltok godt i timen.")
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        # An overdue measure (the staff's front page lists it) and a meeting that invites Kari.
        coordinator.login("Siri Stafett", kind="staff")
        kari = invitee_key(coordinator.log_page(log_id).text, "Kari Nordmann")
        coordinator.write_entry(
            log_id,
            "measure",
            "Fast voksen i storefri",
            {
                "responsible": "Lars Lærer",
                "evaluate_on": (date.today() - timedelta(days=2)).isoformat(),
                "measure_status": "active",
            },
        )
        coordinator.write_entry(
            log_id,
            "meeting",
            "Velkommen\nHvordan går det på skolen?",
            {
                "starts_at": f"{(date.today() + timedelta(days=7)).isoformat()}T09:30",
                "place": "Sentrum skole, møterom 2",
                "invited": kari,
            },
        )
    return log_id


def test_axe_reports_what_breaks_wcag(new_page: PageFactory, auditor: Auditor) -> None:
    """The audit can fail: a page without a language and an image without text is caught."""
    page = new_page()
    page.set_content('<html><body><main><img src="/no.png"></main></body></html>')
    auditor.audit(page, "control", document=False)
    assert any("image-alt" in problem for problem in auditor.problems), auditor.problems
    assert any("html-has-lang" in problem for problem in auditor.problems), auditor.problems


def test_logged_out_front_page_and_test_idp_login_have_no_wcag_violations(
    product: RunningProduct, new_page: PageFactory, auditor: Auditor
) -> None:
    page = new_page()
    page.goto(product.portal_url)
    auditor.audit(page, "front-logged-out", phone=True)
    page.get_by_role("link", name="Logg inn som ansatt").click()
    expect(page.get_by_role("button", name="Siri Stafett")).to_be_visible()
    auditor.audit(page, "test-idp-login", phone=True)
    auditor.assert_clean()


def test_coordinator_pages_have_no_wcag_violations(
    product: RunningProduct, new_page: PageFactory, auditor: Auditor, stafettlogg_id: str
) -> None:
    page = new_page()
    log_in(page, product, "Siri Stafett", "Logg inn som ansatt")
    expect(page.get_by_role("region", name="Evalueringer som forfaller")).to_contain_text("Forfalt")
    auditor.audit(page, "front-coordinator", phone=True)
    page.get_by_role("link", name="Ny stafettlogg").click()
    auditor.audit(page, "new-stafettlogg", phone=True)
    page.get_by_role("button", name="Opprett stafettlogg").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    auditor.audit(page, "new-stafettlogg-errors", phone=True)
    page.goto(f"{product.portal_url}/stafettlogger/{stafettlogg_id}")
    expect(page.get_by_role("button", name="Legg til foresatt")).to_be_visible()
    auditor.audit(page, "log-coordinator", phone=True)
    entry_types = page.get_by_label("Type", exact=True)
    values = entry_types.locator("option").evaluate_all("(options) => options.map(o => o.value)")
    for value in values:
        entry_types.select_option(value)  # htmx swaps in the fields of this entry type
        expect(page.locator("#entry_fields")).to_be_attached()
        page.wait_for_load_state("networkidle")
        auditor.audit(page, f"log-coordinator-entry-{value}", document=False)
    page.get_by_role("button", name="Legg til foresatt").click()
    page.get_by_role("button", name="Lagre oppføring").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    auditor.audit(page, "log-coordinator-errors", phone=True)
    page.goto(f"{product.portal_url}/tjeneste")
    auditor.audit(page, "acting-service", phone=True)
    auditor.assert_clean()


def test_guardian_pages_have_no_wcag_violations(
    product: RunningProduct, new_page: PageFactory, auditor: Auditor, stafettlogg_id: str
) -> None:
    page = new_page()
    log_in(page, product, "Kari Nordmann", "Logg inn med ID-porten")
    expect(page.get_by_text("Venter på deg")).to_be_visible()  # the meeting invitation
    auditor.audit(page, "front-guardian", phone=True)
    page.goto(f"{product.portal_url}/stafettlogger/{stafettlogg_id}")
    expect(page.get_by_role("region", name="Samtykke")).to_be_visible()
    expect(page.get_by_text("Du er invitert")).to_be_visible()
    auditor.audit(page, "log-guardian", phone=True)
    page.get_by_role("button", name="Jeg kommer", exact=True).click()
    expect(page.locator(".meeting-answers")).to_contain_text("du har svart at du kommer.")
    auditor.audit(page, "log-guardian-answered", phone=True, document=False)
    meeting = page.locator(".entry", has=page.locator(".meeting-answers"))
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        document_screenshot(page, f"meeting-answered-{size_name}", start_at=meeting)
    page.set_viewport_size(DESKTOP)
    page.get_by_role("link", name="Se hvem som har lest stafettloggen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hvem har lest stafettloggen")
    auditor.audit(page, "innsyn", phone=True)
    notifications = page.goto(f"{product.portal_url}/varsler")
    assert notifications is not None
    assert notifications.status == 200
    auditor.audit(page, "notifications", phone=True)
    auditor.assert_clean()


def test_teacher_log_page_and_error_pages_have_no_wcag_violations(
    product: RunningProduct, new_page: PageFactory, auditor: Auditor, stafettlogg_id: str
) -> None:
    page = new_page()
    log_in(page, product, "Lars Lærer", "Logg inn som ansatt")
    page.goto(f"{product.portal_url}/stafettlogger/{stafettlogg_id}")
    expect(page.get_by_text("Emma deltok godt i timen.", exact=True)).to_be_visible()
    auditor.audit(page, "log-teacher", phone=True)
    forbidden = page.goto(f"{product.portal_url}/admin")
    assert forbidden is not None
    assert forbidden.status == 403
    auditor.audit(page, "error-403", phone=True)
    missing = page.goto(f"{product.portal_url}/finnes-ikke")
    assert missing is not None
    assert missing.status == 404
    auditor.audit(page, "error-404", phone=True)
    auditor.assert_clean()


def test_admin_pages_have_no_wcag_violations(
    product: RunningProduct, new_page: PageFactory, auditor: Auditor
) -> None:
    page = new_page()
    page.goto(product.portal_url)
    page.get_by_role("link", name="Logg inn som ansatt").click()
    page.get_by_role("button", name="Anne Admin").click()
    for path, name in [
        ("/admin", "admin-overview"),
        ("/admin/tjenester", "admin-services"),
        ("/admin/ansatte", "admin-staff"),
        ("/admin/import", "admin-import"),
        ("/admin/innstillinger", "admin-settings"),
        ("/admin/sletting", "admin-erasure"),
    ]:
        response = page.goto(f"{product.portal_url}{path}")
        assert response is not None, path
        assert response.status == 200, path
        auditor.audit(page, name, phone=True)
    auditor.assert_clean()
