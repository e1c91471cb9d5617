"""Cursors: opaque, round-trip, and anything else is a 400."""

from __future__ import annotations

import pytest

from services.logg.paging import decode_cursor, encode_cursor
from shared.problems import ProblemError


@pytest.mark.parametrize("seq", [0, 1, 42, 2**53])
def test_a_cursor_round_trips_its_position(seq: int) -> None:
    cursor = encode_cursor(seq)

    assert decode_cursor(cursor) == seq
    assert str(seq) not in cursor  # opaque, not the bare number


def test_no_cursor_means_the_first_page() -> None:
    assert decode_cursor(None) is None


@pytest.mark.parametrize("cursor", ["", "!!", "czE6", "czE6LTE", "MTIz", "czE6MTIzYQ", "a" * 33])
def test_a_cursor_this_service_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(ProblemError) as raised:
        decode_cursor(cursor)

    assert (raised.value.status_code, raised.value.slug) == (400, "invalid-cursor")
