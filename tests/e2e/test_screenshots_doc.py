"""docs/screenshots.md shows the portal's pages as the browser tests took them: every image it
names is there, is a JPEG, and together they stay small enough to keep in the repository. (No
browser needed: this reads the committed files.)"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "screenshots.md"
MAX_TOTAL = 4 * 1024 * 1024
_IMAGE = re.compile(r'src="(screenshots/[a-z0-9-]+\.jpg)"')


def test_every_screenshot_the_page_shows_is_committed_as_a_jpeg() -> None:
    names = _IMAGE.findall(PAGE.read_text(encoding="utf-8"))
    assert len(names) >= 2 * 21, "the page shows every page at two widths"
    for name in names:
        image = DOCS / name
        assert image.is_file(), f"{name} is missing: STAFETT_UPDATE_SCREENSHOTS=1 (see the page)"
        assert image.read_bytes()[:3] == b"\xff\xd8\xff", f"{name} is not a JPEG"
    assert {n.rsplit("-", 1)[1] for n in names} == {"desktop.jpg", "phone.jpg"}


def test_the_screenshots_stay_under_four_megabytes() -> None:
    total = sum(path.stat().st_size for path in (DOCS / "screenshots").glob("*.jpg"))
    assert 0 < total < MAX_TOTAL, f"docs/screenshots/ holds {total} bytes"


def test_the_readme_links_the_screenshots() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/screenshots.md" in readme
