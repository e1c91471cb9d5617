"""Opaque, cursor-based paging: a cursor names the last row a client has seen."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from litestar.params import Parameter

from shared.problems import ProblemError
from shared.wire import MAX_PAGE

__all__ = [
    "DEFAULT_PAGE",
    "Cursor",
    "Limit",
    "cut_page",
    "cut_page_by",
    "decode_cursor",
    "encode_cursor",
    "invalid_cursor",
    "open_cursor",
    "seal_cursor",
]

DEFAULT_PAGE = 20
_CURSOR_PREFIX = "s1:"
_CURSOR_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]+$")

Limit = Annotated[
    int,
    Parameter(ge=1, le=MAX_PAGE, description="How many items, 1 to 100"),
]
Cursor = Annotated[
    str | None,
    Parameter(
        max_length=32,
        description="The `next_cursor` of the previous page; omit for the newest items",
    ),
]


_Row = TypeVar("_Row")


def cut_page(
    rows: Sequence[_Row], limit: int, position: Callable[[_Row], int]
) -> tuple[list[_Row], str | None]:
    """Cut `limit` rows from a query that fetched `limit + 1`: the extra row only says that
    there is a next page, whose cursor names the last row kept."""
    return cut_page_by(rows, limit, lambda row: encode_cursor(position(row)))


def cut_page_by(
    rows: Sequence[_Row], limit: int, cursor_of: Callable[[_Row], str]
) -> tuple[list[_Row], str | None]:
    """As `cut_page`, for a list whose cursor is not one position: `cursor_of` makes the next
    page's cursor from the last row kept."""
    page = list(rows[:limit])
    next_cursor = cursor_of(page[-1]) if len(rows) > limit and page else None
    return page, next_cursor


def encode_cursor(seq: int) -> str:
    return seal_cursor(f"{_CURSOR_PREFIX}{seq}")


def decode_cursor(cursor: str | None) -> int | None:
    """The position a cursor names, or None for the first page. A cursor this service did not
    make is a 400 problem."""
    if cursor is None:
        return None
    text = open_cursor(cursor, max_length=32)
    number = text.removeprefix(_CURSOR_PREFIX)
    if number == text or not number.isdigit() or len(number) > 18:
        raise invalid_cursor()
    return int(number)


def seal_cursor(text: str) -> str:
    """An opaque cursor carrying `text` (ASCII): unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def open_cursor(cursor: str, *, max_length: int) -> str:
    """The text a `seal_cursor` cursor carries; anything else is a 400 problem. The caller
    still checks that the text has its own prefix and shape."""
    if len(cursor) > max_length or not _CURSOR_CHARACTERS.match(cursor):
        raise invalid_cursor()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return raw.decode("ascii")
    except (binascii.Error, ValueError) as error:
        raise invalid_cursor() from error


def invalid_cursor() -> ProblemError:
    return ProblemError(400, "invalid-cursor", "The cursor is not valid", "Start again without one")
