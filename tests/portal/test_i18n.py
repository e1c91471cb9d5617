"""The portal's languages: complete catalogues, the person's choice kept in a cookie, a safe way
back, and pages, messages and dates in bokmål, nynorsk and English."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment
from litestar import Litestar, Request
from litestar.testing import TestClient

from services.portal.i18n import N_, Translator, install, load_translations
from services.portal.language import is_safe_local_path
from services.portal.norwegian import format_date, format_datetime
from shared.settings import Mode
from tests.portal.conftest import Portal, local_settings, running_portal

PORTAL = Path(__file__).parents[2] / "services" / "portal"
LOCALE = PORTAL / "locale"
_PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)s")


def _catalogue(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale)


def _ids(catalogue: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}


def _extracted() -> set[str]:
    """What `make i18n` would extract now, from the templates and the Python code."""
    with (PORTAL / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]  # Babel is untyped here
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = extract_from_dir(str(PORTAL), method_map, options_map, keywords=keywords)
    return {message if isinstance(message, str) else message[0] for _, _, message, *_ in found}


def test_every_message_in_the_code_and_templates_is_in_the_catalogue_template() -> None:
    missing = _extracted() - _ids(_catalogue(LOCALE / "messages.pot"))
    assert not missing, f"run `make i18n` and translate: {sorted(missing)[:10]}"


@pytest.mark.parametrize("locale", ["nn", "en"])
def test_every_message_has_a_translation(locale: str) -> None:
    template = _ids(_catalogue(LOCALE / "messages.pot"))
    catalogue = _catalogue(LOCALE / locale / "LC_MESSAGES" / "messages.po", locale)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0]): m
        for m in catalogue
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    assert template, "the catalogue template is empty"
    untranslated = template - set(translated)
    assert not untranslated, f"{locale}: no translation for {sorted(untranslated)[:10]}"
    for msgid, message in translated.items():
        forms = (message.string,) if isinstance(message.string, str) else message.string or ()
        for text in forms:  # a plural has a form per number, each with the same placeholders
            assert set(_PLACEHOLDER.findall(text)) == set(_PLACEHOLDER.findall(msgid)), msgid


def test_nynorsk_reads_as_nynorsk() -> None:
    nynorsk = Translator(load_translations(), "nn")
    assert nynorsk.gettext("Du har ikke tilgang til denne stafettloggen") == (
        "Du har ikkje tilgang til denne stafettloggen"
    )
    assert nynorsk.gettext("Legg til foresatt") == "Legg til føresett"


def test_a_message_from_python_is_shown_in_the_language_with_its_values() -> None:
    message = N_("%(name)s er lagt til som foresatt.", name="Kari <b>")
    assert message == "Kari <b> er lagt til som foresatt."  # bokmål as a plain string
    english = Translator(load_translations(), "en")
    assert english.show(message) == "Kari <b> has been added as a parent or guardian."
    assert english.show("typed by a person") == "typed by a person"  # not a message: as it is


def test_dates_and_times_follow_the_language() -> None:
    translations = load_translations()
    day = format_date(date(2026, 3, 3))
    moment = format_datetime(datetime(2026, 11, 22, 9, 15, tzinfo=UTC))
    assert day == "3. mars 2026"
    assert moment == "22. november 2026 kl. 10:15"
    assert Translator(translations, "nn").show(day) == "3. mars 2026"
    assert Translator(translations, "en").show(day) == "3 March 2026"
    assert Translator(translations, "en").show(moment) == "22 November 2026 at 10:15"
    meeting = format_datetime("2026-12-01T08:30:00Z", weekday=True)
    assert meeting == "tirsdag 1. desember 2026 kl. 09:30"
    assert Translator(translations, "nn").show(meeting) == "tysdag 1. desember 2026 kl. 09:30"
    assert Translator(translations, "en").show(meeting) == "Tuesday 1 December 2026 at 09:30"
    in_message = N_("Samtykket gjaldt til og med %(day)s", day=day)
    assert Translator(translations, "en").show(in_message) == (
        "Consent was valid until and including 3 March 2026"
    )


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("/", True),
        ("/stafettlogger/abc?cursor=x&rett_opp=y", True),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("javascript:alert(1)", False),
        ("evil.example", False),
        ("/a b", False),
        ("/line\nbreak", False),
        ("", False),
    ],
)
def test_only_a_path_on_the_portal_is_a_safe_way_back(path: str, safe: bool) -> None:
    assert is_safe_local_path(path) is safe


def _choose(portal: Portal, language: str, back: str, *, from_page: str = "/") -> httpx.Response:
    return portal.post_form("/sprak", {"sprak": language, "next": back}, from_page=from_page)


def test_choosing_a_language_keeps_it_in_a_cookie_for_a_year(portal: Portal) -> None:
    response = _choose(portal, "nn", "/")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(
        value
        for key, value in response.headers.multi_items()
        if key == "set-cookie" and value.startswith("sprak=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert "sprak=nn" in attributes
    assert {"max-age=31536000", "path=/", "samesite=lax", "httponly"} <= attributes
    assert "secure" not in attributes  # local mode, plain http
    page = portal.client.get("/")
    assert '<html lang="nn">' in page.text
    assert "Logg inn som tilsett" in page.text


def test_the_chosen_language_reaches_the_login_links(portal: Portal) -> None:
    _choose(portal, "en", "/")
    page = portal.client.get("/").text
    assert "/login?kind=guardian&amp;next=/&amp;ui_locales=en" in page
    assert "/login?kind=staff&amp;next=/&amp;ui_locales=en" in page
    assert "The stafettlogg (shared log) is one place" in page


def test_the_answer_leads_back_to_the_page_the_person_was_on(portal: Portal) -> None:
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{portal.create_stafettlogg()}"
    response = _choose(portal, "en", path, from_page=path)
    assert response.headers["location"] == path
    page = portal.client.get(path).text
    assert '<html lang="en">' in page
    assert "Write an entry" in page
    assert "Born 3 May 2016" in page


@pytest.mark.parametrize(
    "back", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "nowhere"]
)
def test_the_answer_never_leads_off_the_portal(portal: Portal, back: str) -> None:
    response = _choose(portal, "nn", back)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("language", ["de", "se", "", "nb-NO"])
def test_an_unknown_language_is_refused_with_a_clear_page(portal: Portal, language: str) -> None:
    response = _choose(portal, language, "/")
    assert response.status_code == 400
    assert "Vi kjenner ikke det språket" in response.text
    assert "sprak=" not in response.headers.get("set-cookie", "")


def test_choosing_a_language_without_the_csrf_token_is_refused(portal: Portal) -> None:
    response = portal.client.post("/sprak", data={"sprak": "nn", "next": "/"})
    assert response.status_code == 403
    assert "sprak=" not in response.headers.get("set-cookie", "")


def test_every_page_offers_the_three_languages_each_marked_with_its_own_lang(
    portal: Portal,
) -> None:
    page = portal.client.get("/").text
    assert '<html lang="nb">' in page
    for code, name in (("nb", "Bokmål"), ("nn", "Nynorsk"), ("en", "English")):
        assert re.search(rf'value="{code}" lang="{code}"[^>]*>{name}</button>', page), code
    assert 'aria-current="true">Bokmål</button>' in page
    assert page.count('<form method="post" action="/sprak"') == 1


def test_a_made_up_cookie_value_falls_back_to_bokmal(portal: Portal) -> None:
    portal.client.cookies.set("sprak", "klingon")
    page = portal.client.get("/").text
    assert '<html lang="nb">' in page
    assert "Logg inn som ansatt" in page


def test_form_errors_and_what_was_typed_come_back_in_the_chosen_language(portal: Portal) -> None:
    portal.log_in(portal.staff)
    _choose(portal, "nn", "/")
    response = portal.post_form(
        "/stafettlogger",
        {"child_name": "", "child_birth_date": "2016-05-03", "title": "x" * 201},
        from_page="/stafettlogger/ny",
    )
    assert response.status_code == 422
    assert "Skriv namnet til barnet." in response.text
    assert "Skriv høgst 200 teikn her." in response.text
    assert 'value="2016-05-03"' in response.text  # what was typed is kept
    assert "Skriv barnets navn." not in response.text


def test_error_pages_speak_the_chosen_language(portal: Portal) -> None:
    _choose(portal, "en", "/")
    response = portal.client.get("/no-such-page")
    assert response.status_code == 404
    assert "We could not find the page" in response.text
    assert '<html lang="en">' in response.text


@pytest.fixture
def production_portal(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = dataclasses.replace(local_settings(tmp_path), mode=Mode.PRODUCTION)
    with running_portal(settings, base_url="https://127.0.0.1:8000") as running:
        yield running.client


def test_the_language_cookie_is_secure_in_production(
    production_portal: TestClient[Litestar],
) -> None:
    page = production_portal.get("/").text
    token = re.search(r'"x-csrftoken": "([^"]+)"', page)
    assert token is not None
    response = production_portal.post(
        "/sprak",
        data={"sprak": "en", "next": "/", "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(
        value
        for key, value in response.headers.multi_items()
        if key == "set-cookie" and value.startswith("sprak=")
    )
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_the_switch_works_from_an_error_page_too(portal: Portal) -> None:
    portal.client.get("/")  # the CSRF cookie, as a browser has it before it meets a 404
    missing = portal.client.get("/finnes-ikke")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', missing.text)
    assert token is not None, "the error page's language switch has no CSRF token"
    response = portal.client.post(
        "/sprak",
        data={"sprak": "nn", "next": "/finnes-ikke", "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/finnes-ikke"
    assert "Vi fann ikkje sida" in portal.client.get("/finnes-ikke").text


def _request_in(language: str) -> Request[Any, Any, Any]:
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "state": {}}
    scope["headers"] = [(b"cookie", f"sprak={language}".encode())]
    return Request(scope=scope)  # type: ignore[arg-type]  # a bare HTTP scope is enough here


def test_templates_count_in_the_language_and_escape_what_is_filled_in() -> None:
    environment = Environment(autoescape=True)
    install(environment, load_translations())
    template = environment.from_string(
        '{{ ngettext("%(num)s aktiv tjeneste", "%(num)s aktive tjenester", n) }}|'
        '{{ _("Vil du fjerne %(name)s fra stafettloggen?", name=name) }}'
    )
    nynorsk, english = _request_in("nn"), _request_in("en")
    assert template.render(request=nynorsk, n=1, name="<b>Ola</b>") == (
        "1 aktiv teneste|Vil du fjerne &lt;b&gt;Ola&lt;/b&gt; frå stafettloggen?"
    )
    assert template.render(request=english, n=3, name="Ola").startswith("3 active services|")
    assert template.render(n=1, name="Ola") == (  # no request: bokmål
        "1 aktiv tjeneste|Vil du fjerne Ola fra stafettloggen?"
    )
