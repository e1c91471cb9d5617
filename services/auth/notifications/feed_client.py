"""The notifier's calls to logg's notification feed (services.logg.feed), with its own token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Literal

import httpx
import msgspec

__all__ = [
    "DueMeasure",
    "DueMeasurePage",
    "FeedEntry",
    "FeedEntryPage",
    "FeedError",
    "FeedRecipient",
    "LoggFeedClient",
]

_TIMEOUT = httpx.Timeout(10.0)


class FeedError(Exception):
    """logg could not be reached or did not answer as the feed answers."""


class FeedRecipient(msgspec.Struct, frozen=True):
    kind: Literal["person", "service"]
    id: str


class FeedEntry(msgspec.Struct, frozen=True):
    seq: int
    stafettlogg_id: str
    entry_id: str
    author: str
    created_at: datetime
    recipients: list[FeedRecipient]


class FeedEntryPage(msgspec.Struct, frozen=True):
    items: list[FeedEntry]
    cursor: int
    more: bool


class DueMeasure(msgspec.Struct, frozen=True):
    seq: int
    stafettlogg_id: str
    entry_id: str
    due_on: date
    recipients: list[FeedRecipient]


class DueMeasurePage(msgspec.Struct, frozen=True):
    items: list[DueMeasure]
    cursor: int
    more: bool


class LoggFeedClient:
    def __init__(
        self, http: httpx.AsyncClient, *, logg_url: str, token: Callable[[], Awaitable[str]]
    ) -> None:
        self._http = http
        self._logg_url = logg_url
        self._token = token

    async def _get(self, path: str, params: dict[str, str | int]) -> bytes:
        headers = {"Authorization": f"Bearer {await self._token()}"}
        try:
            response = await self._http.get(
                f"{self._logg_url}{path}", params=params, headers=headers, timeout=_TIMEOUT
            )
        except httpx.HTTPError as error:
            raise FeedError(f"logg did not answer ({type(error).__name__})") from None
        if response.status_code != 200:
            raise FeedError(f"logg answered {response.status_code}")
        return response.content

    async def entries(self, after: int | None, limit: int = 200) -> FeedEntryPage:
        """New entries after `after` (None: no entries, and the cursor of now)."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        content = await self._get("/notifications/entries", params)
        try:
            return msgspec.json.decode(content, type=FeedEntryPage)
        except msgspec.ValidationError as error:
            raise FeedError("logg's feed answer is malformed") from error

    async def due_measures(
        self, due_from: date, due_to: date, after: int = 0, limit: int = 200
    ) -> DueMeasurePage:
        params: dict[str, str | int] = {
            "due_from": due_from.isoformat(),
            "due_to": due_to.isoformat(),
            "after": after,
            "limit": limit,
        }
        content = await self._get("/notifications/due-measures", params)
        try:
            return msgspec.json.decode(content, type=DueMeasurePage)
        except msgspec.ValidationError as error:
            raise FeedError("logg's feed answer is malformed") from error
