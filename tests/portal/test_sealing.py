"""What the portal seals for each entry type, and what it accepts when opening."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from services.portal.entry_bodies import (
    EntryBody,
    LegacyBody,
    MeasureBody,
    TextBody,
    decode_body,
    encode_body,
)
from services.portal.sealing import OpenError, open_entry, seal_entry
from shared.crypto.envelope import new_epoch_key
from shared.crypto.keys import PublicKeys, generate_participant_keys
from shared.wire import EntryView

_MEASURE = MeasureBody(
    text="Fast voksen i storefri",
    goal_id="goal-1",
    responsible="Lars Lærer",
    start_on="2026-01-05",
    evaluate_on="2026-02-16",
    status="active",
)


def _sealed_view(
    entry_type: str, body: EntryBody | str
) -> tuple[EntryView, dict[int, bytes], PublicKeys]:
    keys = generate_participant_keys()
    epoch_key = new_epoch_key()
    sealed = seal_entry(
        "log-1",
        "entry-1",
        entry_type,
        body,
        epoch=1,
        epoch_key=epoch_key,
        author="staff-1",
        author_keys=keys,
        created_at="2026-01-05T10:00:00Z",
    )
    view = EntryView(id="entry-1", sealed=sealed, stored_at=datetime.now(UTC))
    return view, {1: epoch_key}, keys.public()


def test_a_measure_is_sealed_as_its_versioned_object_and_opens_the_same() -> None:
    plaintext = msgspec.json.decode(encode_body("measure", _MEASURE))
    assert plaintext == {
        "v": 1,
        "text": "Fast voksen i storefri",
        "goal_id": "goal-1",
        "responsible": "Lars Lærer",
        "start_on": "2026-01-05",
        "evaluate_on": "2026-02-16",
        "status": "active",
    }
    view, epoch_keys, public = _sealed_view("measure", _MEASURE)
    assert b"Lars" not in msgspec.json.encode(view)
    assert open_entry("log-1", view, epoch_keys, public) == _MEASURE


def test_a_bare_string_seals_as_the_text_of_a_text_type_only() -> None:
    view, epoch_keys, public = _sealed_view("message", "Hei")
    assert open_entry("log-1", view, epoch_keys, public) == TextBody(text="Hei")
    with pytest.raises(ValueError, match="more than a text"):
        _sealed_view("measure", "Bare tekst")


def test_a_body_of_another_type_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_body("goal", _MEASURE)


def test_entries_from_before_the_versioned_formats_still_open() -> None:
    assert decode_body("measure", b'{"text": "Gammel"}') == LegacyBody(text="Gammel")
    assert decode_body("goal", b'{"text": "Gammel"}') == TextBody(text="Gammel")


def test_unknown_fields_or_versions_do_not_open() -> None:
    with pytest.raises(ValueError, match="not this type's object"):
        decode_body("goal", b'{"v": 2, "text": "x"}')
    with pytest.raises(ValueError, match="not this type's object"):
        decode_body("measure", b'{"v": 1, "text": "x", "secret": 1}')
    with pytest.raises(ValueError, match="not JSON"):
        decode_body("level_change", b"not json")


def test_an_entry_sealed_for_another_log_does_not_open() -> None:
    view, epoch_keys, public = _sealed_view("goal", "Mål")
    with pytest.raises(OpenError):
        open_entry("log-2", view, epoch_keys, public)
