"""Real Chromium (Debian's package) driven by Playwright. Without chromium the browser tests
skip with a reason; with STAFETT_REQUIRE_BROWSER=1 (CI) its absence fails the run.

Screenshots: every one goes to artifacts/ (PNG, the whole page) as a test artefact. With
STAFETT_UPDATE_SCREENSHOTS=1 the pages shown in docs/screenshots.md are also written to
docs/screenshots/ (JPEG, compressed, the top of the page), to be committed."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.product import RunningProduct, running_product

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DOC_PAGE = DOC_SCREENSHOTS.with_suffix(".md")  # docs/screenshots.md names what it shows
UPDATE_SCREENSHOTS = "STAFETT_UPDATE_SCREENSHOTS"
# The message a form leaves after it is sent («… er lagt til», «Du har gitt samtykke»); not the
# live updates' own status region, which is a status too.
NOTICE = 'p.notice[role="status"]'
_DOC_MAX_HEIGHT = 1800  # px: the top of a long page is what the docs show
_DOC_JPEG_QUALITY = 60
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return os.environ.get("STAFETT_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")  # Playwright's loop must be gone before other modules run
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("STAFETT_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required here (STAFETT_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("chromium is not installed: apt-get install chromium (CI installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProduct]:
    with running_product(tmp_path_factory.mktemp("product")) as running:
        yield running


@pytest.fixture
def new_page(browser: Browser) -> Iterator[object]:
    contexts = []

    def make() -> Page:
        context = browser.new_context(locale="nb-NO", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def document_screenshot(page: Page, name: str, *, start_at: Locator | None = None) -> Path | None:
    """With STAFETT_UPDATE_SCREENSHOTS=1, and if docs/screenshots.md shows `name`: the page as
    it shows it, a JPEG of at most `_DOC_MAX_HEIGHT` pixels at the current width from its top
    (or from `start_at`), written to docs/screenshots/. (A page the docs do not name leaves no
    file there: name it in docs/screenshots.md first.)"""
    if os.environ.get(UPDATE_SCREENSHOTS) != "1":
        return None
    if f"screenshots/{name}.jpg" not in DOC_PAGE.read_text(encoding="utf-8"):
        return None
    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width, height = page.evaluate(
        "() => [document.documentElement.clientWidth, document.documentElement.scrollHeight]"
    )
    top = 0
    if start_at is not None:
        top = max(0, int(start_at.evaluate("(el) => el.getBoundingClientRect().top + scrollY")))
        top = max(0, top - 16)
    path = DOC_SCREENSHOTS / f"{name}.jpg"
    page.screenshot(
        path=str(path),
        type="jpeg",
        quality=_DOC_JPEG_QUALITY,
        full_page=True,
        clip={"x": 0, "y": top, "width": width, "height": min(height - top, _DOC_MAX_HEIGHT)},
    )
    return path


def invitee_key(page_html: str, name: str) -> str:
    """The value of the meeting form's «Inviterte» checkbox for this participant (their
    participant key), read from a log page."""
    for match in re.finditer(
        r'<input id="(invited-\d+)" name="invited" type="checkbox" value="([^"]+)"', page_html
    ):
        if re.search(rf'<label for="{match.group(1)}">{re.escape(name)}</label>', page_html):
            return match.group(2)
    raise AssertionError(f"{name} is not among the meeting's choices")


PageFactory = Callable[[], Page]


def log_in(page: Page, product: RunningProduct, person: str, link: str) -> None:
    """Log in as `person` with the test identity provider behind the front page's `link`."""
    page.goto(product.portal_url)
    page.get_by_role("link", name=link).click()
    page.get_by_role("button", name=person).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine stafettlogger")


def new_log_with_guardian(coordinator: Page, concern: str) -> str:
    """As the logged-in coordinator: a new stafettlogg for Emma Nordmann about `concern`, with
    Kari Nordmann added as guardian; the page stays on the log, whose URL is returned."""
    coordinator.get_by_role("link", name="Ny stafettlogg").click()
    coordinator.get_by_label("Barnets navn").fill("Emma Nordmann")
    coordinator.get_by_label("Fødselsdato").fill("2016-05-03")
    coordinator.get_by_label("Hva gjelder bekymringen?").fill(concern)
    coordinator.get_by_role("button", name="Opprett stafettlogg").click()
    expect(coordinator.get_by_role("heading", level=1)).to_have_text("Emma Nordmann")
    log_url = coordinator.url
    assert re.search(r"/stafettlogger/[A-Za-z0-9_-]+$", log_url)
    coordinator.get_by_label("Fødselsnummer til foresatt").fill("12838510068")
    coordinator.get_by_role("button", name="Legg til foresatt").click()
    expect(coordinator.locator(NOTICE)).to_contain_text("er lagt til som foresatt")
    return log_url
