"""Live updates in the portal (services.portal.live): the browser's event stream relays logg's,
and the timeline fragment it triggers. logg's stream is scripted here (a finite one, so that the
test client, which waits for the whole response, gets it all)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.portal.conftest import LoggHandler, Portal, local_settings, running_portal
from tests.portal.fakes import FakeLogg

_EVENT_STREAM = {"content-type": "text/event-stream"}


class ScriptedStreams:
    """Answers logg's `GET /stafettlogger/{id}/events` with `answer`; every other call goes to
    the fake logg. Records the stream requests."""

    def __init__(self, logg: FakeLogg) -> None:
        self.logg = logg
        self.answer = httpx.Response(200, content=b": ping\n\n", headers=_EVENT_STREAM)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            if self.logg.down:
                raise httpx.ConnectError("logg is down", request=request)
            self.requests.append(request)
            return self.answer
        return self.logg.handle(request)

    def stream(self, body: str) -> None:
        self.answer = httpx.Response(200, content=body.encode(), headers=_EVENT_STREAM)


@pytest.fixture
def streams() -> list[ScriptedStreams]:
    return []


@pytest.fixture
def portal(tmp_path: Path, streams: list[ScriptedStreams]) -> Iterator[Portal]:
    """The conftest's portal, with logg's event streams scripted."""

    def scripted_handler(logg: FakeLogg) -> LoggHandler:
        scripted = ScriptedStreams(logg)
        streams.append(scripted)
        return scripted.handle

    with running_portal(local_settings(tmp_path), logg_handler=scripted_handler) as running:
        yield running


@pytest.fixture
def scripted(streams: list[ScriptedStreams], portal: Portal) -> ScriptedStreams:
    return streams[0]


def _messages(body: str) -> list[dict[str, str]]:
    messages = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if block.strip():
            fields = {}
            for line in block.split("\n"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            messages.append(fields)
    return messages


def _write(portal: Portal, stafettlogg_id: str, text: str) -> str:
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/oppforinger", {"entry_type": "observation", "text": text}, from_page=path
    )
    assert response.status_code == 303, response.text
    return portal.logg.logs[stafettlogg_id].entries[-1].id


def test_the_stream_relays_logg_entry_events_and_heartbeats_for_the_person(
    portal: Portal, scripted: ScriptedStreams
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    scripted.stream(
        ": ping\n\nid: entry-1\nevent: entry\ndata: entry-1\n\n"
        "event: something-else\ndata: x\n\nid: <script>\nevent: entry\ndata: y\n\n"
    )

    response = portal.client.get(f"/stafettlogger/{stafettlogg_id}/hendelser?siste=entry-0")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert _messages(response.text) == [
        {"retry": "3000"},
        {"": "ping"},
        {"id": "entry-1", "event": "entry", "data": "entry-1"},
    ]
    [sent] = scripted.requests
    assert sent.url.path == f"/stafettlogger/{stafettlogg_id}/events"
    assert sent.headers["authorization"] == f"Bearer tok-stafett-logg-{portal.staff.subject}"
    assert sent.headers["last-event-id"] == "entry-0"


def test_the_reconnect_header_names_the_newest_entry_heard(
    portal: Portal, scripted: ScriptedStreams
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()

    portal.client.get(
        f"/stafettlogger/{stafettlogg_id}/hendelser?siste=entry-0",
        headers={"Last-Event-ID": "entry-7"},
    )
    portal.client.get(
        f"/stafettlogger/{stafettlogg_id}/hendelser?siste=bad%20id",
        headers={"Last-Event-ID": "<bad>"},
    )

    assert [r.headers.get("last-event-id") for r in scripted.requests] == ["entry-7", None]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(403, json={"type": "urn:stafettlogg:problem:consent-missing"}),
        httpx.Response(404, json={"type": "urn:stafettlogg:problem:stafettlogg-not-found"}),
        httpx.Response(
            200, content=b"event: refused\ndata: consent-missing\n\n", headers=_EVENT_STREAM
        ),
    ],
    ids=["refused-at-once", "no-such-log", "refused-later"],
)
def test_when_logg_refuses_the_page_is_told_to_stop(
    portal: Portal, scripted: ScriptedStreams, answer: httpx.Response
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    scripted.answer = answer

    response = portal.client.get(f"/stafettlogger/{stafettlogg_id}/hendelser")

    assert response.status_code == 200
    assert _messages(response.text)[-1] == {"event": "stopp", "data": ""}


def test_without_a_session_the_stream_stops_and_logg_is_not_asked(
    portal: Portal, scripted: ScriptedStreams
) -> None:
    response = portal.client.get("/stafettlogger/log-1/hendelser")
    portal.client.cookies.set("stafett_session", "unknown-session")
    expired = portal.client.get("/stafettlogger/log-1/hendelser")

    for answer in (response, expired):
        assert answer.status_code == 200
        assert _messages(answer.text)[-1] == {"event": "stopp", "data": ""}
    assert scripted.requests == []


def test_a_logg_that_is_busy_or_down_ends_the_stream_without_stopping_the_page(
    portal: Portal, scripted: ScriptedStreams
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    scripted.answer = httpx.Response(429, json={"type": "urn:stafettlogg:problem:too-many"})
    busy = portal.client.get(f"/stafettlogger/{stafettlogg_id}/hendelser")
    portal.logg.down = True
    down = portal.client.get(f"/stafettlogger/{stafettlogg_id}/hendelser")

    assert _messages(busy.text) == [{"retry": "3000"}, {"retry": "30000"}]
    assert _messages(down.text) == [{"retry": "3000"}, {"retry": "30000"}]


def test_a_malformed_log_id_is_a_404(portal: Portal) -> None:
    portal.log_in(portal.staff)

    assert portal.client.get("/stafettlogger/bad%20id/hendelser").status_code == 404
    assert portal.client.get("/stafettlogger/bad%20id/tidslinje").status_code == 404


def test_the_timeline_fragment_shows_a_new_entry_and_nothing_when_none_is_new(
    portal: Portal,
) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    first = _write(portal, stafettlogg_id, "Første observasjon")
    newest = _write(portal, stafettlogg_id, "Andre observasjon")
    path = f"/stafettlogger/{stafettlogg_id}/tidslinje"

    changed = portal.client.get(path, params={"siste": first}, headers={"HX-Request": "true"})
    unchanged = portal.client.get(path, params={"siste": newest}, headers={"HX-Request": "true"})

    assert changed.status_code == 200
    assert changed.text.lstrip().startswith('<div id="timeline"')
    assert "Andre observasjon" in changed.text
    assert f'hx-get="/stafettlogger/{stafettlogg_id}/tidslinje?siste={newest}"' in changed.text
    assert "Skriv en oppføring" not in changed.text  # the form being written in stays as it is
    assert unchanged.status_code == 204
    assert unchanged.text == ""


def test_the_timeline_fragment_leaves_the_page_alone_when_logg_is_down(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    _write(portal, stafettlogg_id, "En observasjon")
    portal.logg.down = True

    response = portal.client.get(
        f"/stafettlogger/{stafettlogg_id}/tidslinje", headers={"HX-Request": "true"}
    )

    assert response.status_code == 204


def test_the_timeline_fragment_needs_a_login(portal: Portal) -> None:
    response = portal.client.get("/stafettlogger/log-1/tidslinje", follow_redirects=False)

    assert response.status_code in {302, 303}
    assert response.headers["location"] == "/"


def test_the_log_page_connects_to_its_live_updates(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    newest = _write(portal, stafettlogg_id, "En observasjon")

    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")

    assert '<script src="/static/htmx-ext-sse.min.js" defer></script>' in page.text
    connect = re.search(
        r'<div id="live" hx-ext="sse" sse-connect="([^"]+)" sse-close="stopp">', page.text
    )
    assert connect is not None
    assert connect.group(1) == f"/stafettlogger/{stafettlogg_id}/hendelser?siste={newest}"
    assert 'hx-trigger="sse:entry"' in page.text
    assert '<p id="live-status" class="visually-hidden" role="status" aria-live="polite"></p>' in (
        page.text
    )
    # the connection is outside the entries block, so writing an entry does not reconnect it
    entries = page.text.index('<section id="entries"')
    assert page.text.index('<div id="live"') < entries


def test_the_extension_is_served_from_our_static_files_and_the_csp_allows_the_stream(
    portal: Portal,
) -> None:
    script = portal.client.get("/static/htmx-ext-sse.min.js")
    page = portal.client.get("/")

    assert script.status_code == 200
    assert 'htmx.defineExtension("sse"' in script.text
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    # EventSource is governed by connect-src, which falls back to default-src: our origin only
    assert policy.get("connect-src", policy["default-src"]) == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]


def test_only_someone_elses_entry_is_announced(portal: Portal) -> None:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    assert portal.guardian.pid is not None
    added = portal.post_form(f"{path}/foresatte", {"pid": portal.guardian.pid}, from_page=path)
    assert added.status_code == 303
    first = _write(portal, stafettlogg_id, "Første observasjon")
    _write(portal, stafettlogg_id, "Andre observasjon")
    htmx = {"HX-Request": "true"}

    own = portal.client.get(f"{path}/tidslinje", params={"siste": first}, headers=htmx)
    portal.log_in(portal.guardian)
    others = portal.client.get(f"{path}/tidslinje", params={"siste": first}, headers=htmx)

    assert "Andre observasjon" in own.text
    assert "Andre observasjon" in others.text
    assert "Ny oppføring" not in own.text
    assert '<p id="live-status" hx-swap-oob="innerHTML">Ny oppføring</p>' in others.text
