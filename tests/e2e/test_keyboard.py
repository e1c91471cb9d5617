"""The main journeys of each role walked with the keyboard alone in real Chromium: Tab,
Shift+Tab, Enter, Space and typing, never a click. At every step the focused element must show
a focus style (WCAG 2.4.7), and the skip link must reach the main content (WCAG 2.4.1).

- a guardian logs in through the test IdP, opens the log, writes a message and answers a
  meeting invitation;
- a coordinator creates a log and adds a guardian;
- a service contact writes an observation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from stafett.webclient import PortalBrowser
from tests.e2e.conftest import NOTICE, invitee_key, screenshot
from tests.product import RunningProduct

pytestmark = pytest.mark.e2e

PageFactory = Callable[[], Page]
KARI = "12838510068"
_MAX_TABS = 250
# Whether the focused element shows a focus indicator: an outline or a box shadow (portal.css
# gives `:focus-visible` both). Returns "" when it does, else what is focused.
_FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'nothing is focused';
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  if (outline || shadow) return '';
  return `${el.outerHTML.slice(0, 160)} (outline ${style.outlineStyle} ${style.outlineWidth}, `
    + `:focus-visible ${el.matches(':focus-visible')})`;
}"""
_IS_FOCUSED = "(el) => el === document.activeElement"


def _focus_shown(page: Page) -> None:
    problem: str = page.evaluate(_FOCUS_SHOWN)
    assert problem == "", f"no visible focus on {page.url}: {problem}"


def _tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `target` has the focus, checking at every step that the
    focus can be seen."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(_MAX_TABS):
        page.keyboard.press(key)
        _focus_shown(page)
        if target.evaluate(_IS_FOCUSED):
            return
    pytest.fail(f"{key} never reached {target} on {page.url}")


def _skip_link_reaches_main(page: Page) -> None:
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Hopp til hovedinnholdet")
    assert skip.evaluate(_IS_FOCUSED), "the first Tab does not reach the skip link"
    _focus_shown(page)
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "main"


def _login(page: Page, product: RunningProduct, person: str, link: str) -> None:
    page.goto(product.portal_url)
    _skip_link_reaches_main(page)
    _tab_to(page, page.get_by_role("link", name=link))
    page.keyboard.press("Enter")
    button = page.get_by_role("button", name=person)
    expect(button).to_be_visible()
    _tab_to(page, button)
    page.keyboard.press("Space")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine stafettlogger")


@pytest.fixture(scope="module")
def stafettlogg_id(product: RunningProduct) -> str:
    """A log with Kari, Sentrum skole (with Kari's consent) and a meeting that invites Kari."""
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        log_id = coordinator.create_stafettlogg("Emma Nordmann", "2016-05-03", "Trøtt på skolen")
        coordinator.add_guardian(log_id, KARI)
        coordinator.add_service(log_id, "sentrum-skole")
    with PortalBrowser(product.portal_url, product.auth_url) as guardian:
        guardian.login("Kari Nordmann", kind="guardian")  # auth learns her name at login
        guardian.give_consent(log_id, "sentrum-skole")
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        kari = invitee_key(coordinator.log_page(log_id).text, "Kari Nordmann")
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


def test_a_guardian_writes_and_answers_a_meeting_with_the_keyboard_alone(
    product: RunningProduct, new_page: PageFactory, stafettlogg_id: str
) -> None:
    page = new_page()
    _login(page, product, "Kari Nordmann", "Logg inn med ID-porten")
    expect(page.get_by_text("Venter på deg")).to_be_visible()
    _tab_to(page, page.get_by_role("link", name=re.compile("^Emma Nordmann")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Emma Nordmann")

    _tab_to(page, page.get_by_label("Type", exact=True))
    page.keyboard.type("Melding")  # a closed select picks the option typed
    expect(page.get_by_label("Type", exact=True)).to_have_value("message")
    # htmx swaps in the fields of the type chosen (a message has none): wait, then go on.
    expect(page.locator("#entry_fields fieldset")).to_have_count(0)
    _tab_to(page, page.get_by_label("Tekst", exact=True))
    page.keyboard.type("Emma gleder seg til møtet.")
    _tab_to(page, page.get_by_role("button", name="Lagre oppføring"))
    _tab_to(page, page.get_by_label("Tekst", exact=True), backwards=True)
    _tab_to(page, page.get_by_role("button", name="Lagre oppføring"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Emma gleder seg til møtet.", exact=True)).to_be_visible()

    meeting = page.locator(".meeting-answers")
    expect(meeting).to_contain_text("Du er invitert")
    _tab_to(page, meeting.get_by_label("Kommentar (valgfritt)"))
    page.keyboard.type("Vi kommer begge to")
    _tab_to(page, meeting.get_by_role("button", name="Jeg kommer", exact=True))
    page.keyboard.press("Space")
    expect(page.locator(".meeting-answers")).to_contain_text("du har svart at du kommer.")
    expect(page.locator(".meeting-answers")).to_contain_text("«Vi kommer begge to»")
    screenshot(page, "keyboard-guardian-answered")


def test_a_coordinator_creates_a_log_and_adds_a_guardian_with_the_keyboard_alone(
    product: RunningProduct, new_page: PageFactory
) -> None:
    page = new_page()
    _login(page, product, "Siri Stafett", "Logg inn som ansatt")
    _tab_to(page, page.get_by_role("link", name="Ny stafettlogg"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ny stafettlogg")
    _tab_to(page, page.get_by_label("Barnets navn"))
    page.keyboard.type("Nora Nordmann")
    birth_date = page.get_by_label("Fødselsdato")
    _tab_to(page, birth_date)
    # Digits into the date input's fields; day = month, so the browser's field order is moot.
    page.keyboard.type("05052016")
    expect(birth_date).to_have_value("2016-05-05")
    _tab_to(page, page.get_by_label("Hva gjelder bekymringen?"))
    page.keyboard.type("Mye fravær")
    _tab_to(page, page.get_by_role("button", name="Opprett stafettlogg"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nora Nordmann")

    _tab_to(page, page.get_by_label("Fødselsnummer til foresatt"))
    page.keyboard.type(KARI)
    page.keyboard.press("Enter")  # submits the form the field is in
    expect(page.locator(NOTICE)).to_contain_text("er lagt til som foresatt")
    expect(page.get_by_role("region", name="Deltakere")).to_contain_text("Kari Nordmann")


def test_a_service_contact_writes_an_observation_with_the_keyboard_alone(
    product: RunningProduct, new_page: PageFactory, stafettlogg_id: str
) -> None:
    page = new_page()
    _login(page, product, "Lars Lærer", "Logg inn som ansatt")
    _tab_to(page, page.get_by_role("link", name=re.compile("^Emma Nordmann")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Emma Nordmann")
    assert page.url.endswith(f"/stafettlogger/{stafettlogg_id}")
    _tab_to(page, page.get_by_label("Type", exact=True))
    expect(page.get_by_label("Type", exact=True)).to_have_value("observation")
    _tab_to(page, page.get_by_label("Tekst", exact=True))
    page.keyboard.type("Emma deltok godt i matematikktimen.")
    _tab_to(page, page.get_by_role("button", name="Lagre oppføring"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Emma deltok godt i matematikktimen.", exact=True)).to_be_visible()
