"""A small browser stand-in: logs a test person in through the test IdP and uses the portal's
forms exactly as a person would. `stafett demo` and the integration tests drive the product
through it, so both travel the same path as a real browser (cookies, redirects, CSRF)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

__all__ = ["Form", "PortalBrowser", "PortalError", "parse_forms"]

_TRIES = 4


class PortalError(Exception):
    """The portal or the IdP answered something a person would see as an error."""


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (text, name, value)
    selects: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._button: tuple[str, str] | None = None
        self._button_text: list[str] = []
        self._select: str | None = None
        self._select_multiple = False
        self._selected: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append(
                Form(attributes.get("action", ""), attributes.get("method", "get").lower())
            )
            return
        if not self.forms:
            return
        form = self.forms[-1]
        name = attributes.get("name", "")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind == "submit":
                form.buttons.append(
                    (attributes.get("value", ""), name, attributes.get("value", ""))
                )
            elif kind not in {"checkbox", "radio"} or "checked" in attributes:
                form.fields[name] = attributes.get("value", "")
        elif tag == "button":
            self._button = (name, attributes.get("value", ""))
            self._button_text = []
        elif tag == "select" and name:
            self._select = name
            self._select_multiple = "multiple" in attributes
            self._selected = None
            form.selects[name] = []
        elif tag == "option" and self._select is not None:
            form.selects[self._select].append(attributes.get("value", ""))
            if "selected" in attributes and self._selected is None:
                self._selected = attributes.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            text = " ".join("".join(self._button_text).split())
            self.forms[-1].buttons.append((text, *self._button))
            self._button = None
        elif tag == "select" and self._select is not None and self.forms:
            # A browser sends the selected option, or the first one; a multiple select only
            # what is selected.
            options = self.forms[-1].selects[self._select]
            default = self._selected
            if default is None and options and not self._select_multiple:
                default = options[0]
            if default is not None:
                self.forms[-1].fields.setdefault(self._select, default)
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class PortalBrowser:
    """One person's browser: its own cookie jar, following redirects like a browser does."""

    def __init__(
        self, portal_url: str, auth_url: str, *, timeout: float = 15.0, patience: float = 0.0
    ) -> None:
        """`patience`: seconds to wait before trying again when the portal answers 503 (as a
        person would when auth's rate limit stops a burst); 0 gives up at once."""
        self.portal_url = portal_url.rstrip("/")
        self.auth_url = auth_url.rstrip("/")
        self.client = httpx.Client(follow_redirects=True, timeout=timeout)
        self.patience = patience

    def _patiently(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """Send; on a 503 wait and try again. If the 503 came after a redirect, the form's post
        went through: only the page it led to is fetched again, so nothing is posted twice."""
        response = send()
        for _ in range(_TRIES if self.patience > 0 else 0):
            if response.status_code != 503:
                break
            time.sleep(self.patience)
            if response.history:  # the post answered 303; the page after it was unavailable
                final_url = response.request.url
                response = self.client.get(final_url)
            else:
                response = send()
        return response

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PortalBrowser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, path: str) -> httpx.Response:
        url = urljoin(self.portal_url + "/", path.lstrip("/"))
        return self._patiently(partial(self.client.get, url))

    def login(self, person_name: str, *, kind: str) -> httpx.Response:
        """Log in as a test person: portal link → auth → test IdP login page → back."""
        page = self.client.get(f"{self.auth_url}/login", params={"kind": kind, "next": "/"})
        _expect_ok(page, "the test IdP's login page")
        response = self.submit_button(page, person_name)
        _expect_ok(response, "the portal after login")
        return response

    def submit_button(
        self,
        page: httpx.Response,
        button_text: str,
        values: dict[str, str] | None = None,
        *,
        where: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Fill the form holding the button with this text and press it. `where` picks, among
        forms with such a button, the one whose fields hold these values (a hidden service_id)."""
        for form in parse_forms(page.text):
            if where and any(form.fields.get(key) != wanted for key, wanted in where.items()):
                continue
            for text, name, value in form.buttons:
                if text == button_text:
                    data = dict(form.fields)
                    data.update(values or {})
                    if name:
                        data[name] = value
                    target = urljoin(str(page.url), form.action or str(page.url))
                    if form.method == "post":
                        return self._patiently(partial(self.client.post, target, data=data))
                    return self._patiently(partial(self.client.get, target, params=data))
        raise PortalError(f"no button {button_text!r} on {page.url}")

    def logout(self) -> httpx.Response:
        return self.submit_button(self.get("/"), "Logg ut")

    def create_stafettlogg(self, child_name: str, birth_date: str, title: str) -> str:
        """Create a log through the portal's form; returns its id."""
        form_page = self.get("/stafettlogger/ny")
        _expect_ok(form_page, "the form for a new stafettlogg")
        response = self.submit_button(
            form_page,
            "Opprett stafettlogg",
            {"child_name": child_name, "child_birth_date": birth_date, "title": title},
        )
        _expect_ok(response, "the new stafettlogg")
        match = re.search(r"/stafettlogger/([A-Za-z0-9_-]+)$", str(response.url))
        if match is None:
            raise PortalError(f"creating the log ended on {response.url}")
        return match.group(1)

    def log_page(self, stafettlogg_id: str) -> httpx.Response:
        response = self.get(f"/stafettlogger/{stafettlogg_id}")
        _expect_ok(response, "the stafettlogg")
        return response

    def add_guardian(self, stafettlogg_id: str, pid: str) -> httpx.Response:
        page = self.log_page(stafettlogg_id)
        response = self.submit_button(page, "Legg til foresatt", {"pid": pid})
        _expect_ok(response, "adding a guardian")
        return response

    def add_service(self, stafettlogg_id: str, service_id: str) -> httpx.Response:
        page = self.log_page(stafettlogg_id)
        response = self.submit_button(page, "Legg til tjeneste", {"service_id": service_id})
        _expect_ok(response, "adding a service")
        return response

    def write_entry(
        self,
        stafettlogg_id: str,
        entry_type: str,
        text: str,
        fields: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Write an entry; `fields` fills the fields of its type (a measure's responsible and
        evaluation date …). A field given as "@first" takes the first real option of that
        select, as a person picks the only goal there is."""
        page = self.log_page(stafettlogg_id)
        values = {"entry_type": entry_type, "text": text}
        for name, value in (fields or {}).items():
            values[name] = _first_option(page, name) if value == "@first" else value
        response = self.submit_button(page, "Lagre oppføring", values)
        _expect_ok(response, "writing an entry")
        return response

    def give_consent(
        self, stafettlogg_id: str, service_id: str, *, valid_until: str | None = None
    ) -> httpx.Response:
        """As a guardian: give consent to a service unit in the log (until the default day, a
        year ahead, unless `valid_until` says YYYY-MM-DD)."""
        page = self.log_page(stafettlogg_id)
        values = {"valid_until": valid_until} if valid_until else {}
        response = self.submit_button(page, "Gi samtykke", values, where={"service_id": service_id})
        _expect_ok(response, "giving consent")
        return response

    def withdraw_consent(self, stafettlogg_id: str, service_id: str) -> httpx.Response:
        """As a guardian: withdraw the consent a service unit holds in the log."""
        page = self.log_page(stafettlogg_id)
        response = self.submit_button(
            page, "Trekk tilbake samtykke", where={"service_id": service_id}
        )
        _expect_ok(response, "withdrawing consent")
        return response

    def access_log(self, stafettlogg_id: str) -> httpx.Response:
        """The innsynslogg: who has read the log."""
        response = self.get(f"/stafettlogger/{stafettlogg_id}/innsyn")
        _expect_ok(response, "the innsynslogg")
        return response


def _first_option(page: httpx.Response, select_name: str) -> str:
    for form in parse_forms(page.text):
        options = [value for value in form.selects.get(select_name, []) if value]
        if options:
            return options[0]
    raise PortalError(f"no option to choose in {select_name!r} on {page.url}")


def _expect_ok(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise PortalError(f"{what} answered {response.status_code} at {response.url}")
