"""The notifier's calls to logg's notification feed (services.logg.feed), with its own token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

import httpx
import msgspec

from shared.wire import FeedDueMeasurePage, FeedEntryPage

__all__ = ["FeedError", "LoggFeedClient"]

_TIMEOUT = httpx.Timeout(10.0)


class FeedError(Exception):
    """logg could not be reached or did not answer as the feed answers."""


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
    ) -> FeedDueMeasurePage:
        params: dict[str, str | int] = {
            "due_from": due_from.isoformat(),
            "due_to": due_to.isoformat(),
            "after": after,
            "limit": limit,
        }
        content = await self._get("/notifications/due-measures", params)
        try:
            return msgspec.json.decode(content, type=FeedDueMeasurePage)
        except msgspec.ValidationError as error:
            raise FeedError("logg's feed answer is malformed") from error
