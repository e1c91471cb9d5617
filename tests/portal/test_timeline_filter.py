"""The timeline filtered by entry type: logg is asked for that type only (its index range), the
filter stays on older pages, and an unknown type is no filter."""

from __future__ import annotations

import re

from services.portal.stafettlogger import ENTRIES_PER_PAGE
from tests.portal.conftest import Portal


def _log_with(portal: Portal, kinds: list[tuple[str, str]]) -> str:
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{portal.create_stafettlogg()}"
    for entry_type, text in kinds:
        response = portal.post_form(
            f"{path}/oppforinger", {"entry_type": entry_type, "text": text}, from_page=path
        )
        assert response.status_code == 303, response.text
    return path


def _texts(html: str) -> list[str]:
    return re.findall(r'<p class="entry__text">([^<]*)</p>', html)


def test_only_the_chosen_type_is_shown_and_logg_is_asked_for_it(portal: Portal) -> None:
    path = _log_with(
        portal,
        [("observation", "Obs en"), ("message", "Melding en"), ("observation", "Obs to")],
    )
    page = portal.client.get(path, params={"vis": "observation"})
    assert page.status_code == 200
    assert _texts(page.text) == ["Obs to", "Obs en"]
    asked = [r for r in portal.logg.requests if r.url.path.endswith("/entries")]
    assert any(r.url.params.get_list("type") == ["observation"] for r in asked)
    assert '<option value="observation" selected>' in page.text
    assert 'hx-ext="sse"' not in page.text  # live updates only on the whole, newest page


def test_without_a_filter_every_type_is_shown(portal: Portal) -> None:
    path = _log_with(portal, [("observation", "Obs en"), ("message", "Melding en")])
    assert _texts(portal.client.get(path).text) == ["Melding en", "Obs en"]
    assert _texts(portal.client.get(path, params={"vis": ""}).text) == ["Melding en", "Obs en"]


def test_an_unknown_type_is_no_filter_and_no_error(portal: Portal) -> None:
    path = _log_with(portal, [("observation", "Obs en")])
    page = portal.client.get(path, params={"vis": "<script>"})
    assert page.status_code == 200
    assert _texts(page.text) == ["Obs en"]
    assert "&lt;script&gt;" not in page.text


def test_a_type_with_no_entries_says_so(portal: Portal) -> None:
    path = _log_with(portal, [("observation", "Obs en")])
    page = portal.client.get(path, params={"vis": "measure"})
    assert "Det er ingen oppføringer av denne typen." in page.text
    assert _texts(page.text) == []


def test_the_filter_stays_on_older_pages(portal: Portal) -> None:
    kinds = [("message", f"Melding {n}") for n in range(ENTRIES_PER_PAGE + 2)]
    path = _log_with(portal, [("observation", "Obs"), *kinds])
    first = portal.client.get(path, params={"vis": "message"})
    older = re.search(r'<a href="(/stafettlogger/[^"]+\?cursor=[^"]+)"', first.text)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert link.endswith("&vis=message")
    second = portal.client.get(link)
    assert _texts(second.text) == ["Melding 1", "Melding 0"]
