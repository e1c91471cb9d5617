"""The envelope checks logg can make without any key that opens an entry."""

from __future__ import annotations

import msgspec
import pytest

from services.logg.sealing import check_envelope, decode_sealed, encode_sealed, parse_rfc3339
from shared.crypto.envelope import MAX_CIPHERTEXT, new_epoch_key
from shared.problems import ProblemError
from tests.logg.helpers import Actor, seal


def _check(envelope: object, author: Actor) -> object:
    return check_envelope(
        envelope,  # type: ignore[arg-type]
        stafettlogg_id="log-1",
        epoch=1,
        author=author.subject,
        types=("observation",),
        author_key=author.keys.public().signing_key(),
    )


def test_a_well_formed_envelope_passes_and_gives_its_time() -> None:
    author = Actor.staff()
    envelope = seal(author, "log-1", new_epoch_key(), created_at="2025-03-01T10:00:00+01:00")

    created_at = _check(envelope, author)

    assert created_at == parse_rfc3339("2025-03-01T09:00:00Z")


def test_an_oversized_ciphertext_is_a_413() -> None:
    author = Actor.staff()
    envelope = seal(author, "log-1", new_epoch_key(), plaintext=b"x" * MAX_CIPHERTEXT)

    with pytest.raises(ProblemError) as raised:
        _check(envelope, author)

    assert raised.value.status_code == 413


def test_a_signature_of_the_wrong_length_is_refused() -> None:
    author = Actor.staff()
    envelope = msgspec.structs.replace(seal(author, "log-1", new_epoch_key()), signature=b"x")

    with pytest.raises(ProblemError) as raised:
        _check(envelope, author)

    assert raised.value.slug == "invalid-signature"


@pytest.mark.parametrize(
    "value",
    ["2025-03-01", "2025-03-01 10:00:00Z", "2025-03-01T10:00:00", "2025-13-01T10:00:00Z", "now"],
)
def test_only_rfc3339_date_times_with_an_offset_parse(value: str) -> None:
    assert parse_rfc3339(value) is None


def test_the_stored_form_round_trips_and_is_deterministic() -> None:
    envelope = seal(Actor.staff(), "log-1", new_epoch_key())

    assert decode_sealed(encode_sealed(envelope)) == envelope
    assert encode_sealed(envelope) == encode_sealed(decode_sealed(encode_sealed(envelope)))
