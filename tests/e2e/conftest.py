"""Real Chromium (Debian's package) driven by Playwright. Without chromium the browser tests
skip with a reason; with STAFETT_REQUIRE_BROWSER=1 (CI) its absence fails the run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.product import RunningProduct, running_product

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
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
