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

__all__ = ["DEFAULT_PAGE", "Cursor", "Limit", "cut_page", "decode_cursor", "encode_cursor"]

DEFAULT_PAGE = 20
_CURSOR_PREFIX = "s1:"
_CURSOR_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

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
    page = list(rows[:limit])
    next_cursor = encode_cursor(position(page[-1])) if len(rows) > limit and page else None
    return page, next_cursor


def encode_cursor(seq: int) -> str:
    raw = f"{_CURSOR_PREFIX}{seq}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> int | None:
    """The position a cursor names, or None for the first page. A cursor this service did not
    make is a 400 problem."""
    if cursor is None:
        return None
    if not _CURSOR_SHAPE.match(cursor):
        raise _invalid_cursor()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
    except (binascii.Error, ValueError) as error:
        raise _invalid_cursor() from error
    number = text.removeprefix(_CURSOR_PREFIX)
    if number == text or not number.isdigit() or len(number) > 18:
        raise _invalid_cursor()
    return int(number)


def _invalid_cursor() -> ProblemError:
    return ProblemError(400, "invalid-cursor", "The cursor is not valid", "Start again without one")
