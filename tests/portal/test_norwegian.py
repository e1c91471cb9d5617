"""Dates, times and words as Norwegian readers expect them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.portal.norwegian import ENTRY_TYPE_LABELS, ROLE_LABELS, format_date, format_datetime
from shared.wire import ENTRY_TYPES


def test_dates_read_like_3_mai_2016() -> None:
    assert format_date("2016-05-03") == "3. mai 2016"
    assert format_date(date(2026, 12, 24)) == "24. desember 2026"


def test_times_are_shown_in_norwegian_time() -> None:
    assert format_datetime("2026-11-22T09:15:00Z") == "22. november 2026 kl. 10:15"
    assert format_datetime(datetime(2026, 7, 1, 8, 5, tzinfo=UTC)) == "1. juli 2026 kl. 10:05"


def test_every_entry_type_and_role_has_a_norwegian_word() -> None:
    assert set(ENTRY_TYPE_LABELS) == set(ENTRY_TYPES)
    assert ROLE_LABELS == {"coordinator": "stafettholder", "writer": "skriver", "reader": "leser"}
