"""What reading a page of 50 entries costs through the portal's code (issue 5): fetch the log's
view and the page from the running logg over HTTP, unwrap the epoch key (HPKE), check each
entry's signature and decrypt it (services.portal.sealing.open_entry), build the timeline lines
(services.portal.timeline) and render the log page's `timeline` block from the portal's own
template. Tokens are minted beforehand; auth's token exchange (one per logg call in the portal,
docs/performance.md) is not included. Rendering uses the template with Jinja's i18n extension
and no catalog (bokmål, the source language), so a translation catalog's lookups are not
counted.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2_fragments import render_block

from bench.crypto_costs import CryptoCost
from bench.targets import LoggTarget
from services.portal.norwegian import OSLO
from services.portal.sealing import open_entry, open_epoch_keys
from services.portal.timeline import OpenedEntry, build_index, entry_line
from shared.wire import EntryPage, StafettloggView

__all__ = ["PAGE_SIZE", "measure_portal_page"]

PAGE_SIZE = 50
_REPEATS = 9
_TEMPLATES = Path(__file__).resolve().parent.parent / "services" / "portal" / "templates"


def measure_portal_page(target: LoggTarget) -> list[CryptoCost]:
    """Median time of one page of 50 entries: the whole read, and its parts."""
    log = target.create_log(entries=PAGE_SIZE)
    environment = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    parts: dict[str, list[float]] = {"fetch": [], "open": [], "render": [], "whole": []}
    with httpx.Client(base_url=target.base_url, timeout=30.0) as client:
        for _ in range(_REPEATS):
            tokens = [target.minter.token(target.actor) for _ in range(2)]
            started = time.perf_counter()
            view_json = _get(client, f"/stafettlogger/{log.id}", tokens[0])
            page_json = _get(
                client, f"/stafettlogger/{log.id}/entries?limit={PAGE_SIZE}", tokens[1]
            )
            fetched = time.perf_counter()
            view = msgspec.json.decode(view_json, type=StafettloggView)
            page = msgspec.json.decode(page_json, type=EntryPage)
            keys = open_epoch_keys(view, subject=target.actor.subject, keys=target.actor.keys)
            author = target.actor.keys.public()
            opened = [
                OpenedEntry(
                    view=item,
                    type=item.sealed.header.type,
                    author=item.sealed.header.author,
                    author_name="Stine Stafettholder",
                    created_at=item.sealed.header.created_at,
                    body=open_entry(view.id, item, keys, author),
                )
                for item in page.items
            ]
            opened_at = time.perf_counter()
            html = _render(environment, view.id, opened, target.actor.subject)
            done = time.perf_counter()
            if len(opened) != PAGE_SIZE or html.count('class="entry') < PAGE_SIZE:
                raise RuntimeError("the page did not open and render 50 entries")
            parts["fetch"].append(fetched - started)
            parts["open"].append(opened_at - fetched)
            parts["render"].append(done - opened_at)
            parts["whole"].append(done - started)
    label = f"portal page of {PAGE_SIZE} entries"
    return [
        CryptoCost(f"{label}: fetch (2 logg GETs over HTTP)", _median_us(parts["fetch"])),
        CryptoCost(f"{label}: unwrap, verify, decrypt", _median_us(parts["open"])),
        CryptoCost(f"{label}: timeline + render", _median_us(parts["render"])),
        CryptoCost(f"{label}: all of it", _median_us(parts["whole"])),
    ]


def _render(
    environment: Environment, stafettlogg_id: str, opened: list[OpenedEntry], subject: str
) -> str:
    index = build_index(opened, subject)
    today = datetime.now(OSLO).date()
    lines = [entry_line(entry, index, subject, today) for entry in opened]
    page = SimpleNamespace(
        id=stafettlogg_id, entries=lines, meetings={}, next_cursor=None, can_write=True
    )
    html: str = render_block(
        environment,
        "stafettlogg.html",
        "timeline",
        page=page,
        cursor=None,
        live=False,
        all_forms={},
    )
    return html


def _get(client: httpx.Client, path: str, token: str) -> bytes:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return response.content


def _median_us(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e6
