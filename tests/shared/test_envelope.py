from __future__ import annotations

import msgspec
import pytest

from shared.crypto.envelope import (
    EnvelopeError,
    EnvelopeHeader,
    SealedEnvelope,
    new_epoch_key,
    open_envelope,
    seal_envelope,
    verify_envelope_signature,
)
from shared.crypto.keys import ParticipantKeys, generate_participant_keys


def _header(**changes: object) -> EnvelopeHeader:
    header = EnvelopeHeader(
        version=1,
        stafettlogg_id="log-1",
        entry_id="entry-1",
        epoch=1,
        author="p_author",
        type="observation",
        created_at="2026-11-22T10:00:00Z",
    )
    return msgspec.structs.replace(header, **changes)


@pytest.fixture(scope="module")
def author() -> ParticipantKeys:
    return generate_participant_keys()


def test_sealed_entry_opens_with_epoch_key_and_author_key(author: ParticipantKeys) -> None:
    epoch_key = new_epoch_key()
    sealed = seal_envelope(
        b"Emma sov godt", header=_header(), epoch_key=epoch_key, author_key=author.signing_key()
    )
    wire = msgspec.json.encode(sealed)
    assert b"Emma" not in wire
    decoded = msgspec.json.decode(wire, type=SealedEnvelope)
    opened = open_envelope(
        decoded, epoch_key=epoch_key, author_public=author.public().signing_key()
    )
    assert opened == b"Emma sov godt"


def test_wrong_epoch_key_fails(author: ParticipantKeys) -> None:
    sealed = seal_envelope(
        b"x", header=_header(), epoch_key=new_epoch_key(), author_key=author.signing_key()
    )
    with pytest.raises(EnvelopeError):
        open_envelope(
            sealed, epoch_key=new_epoch_key(), author_public=author.public().signing_key()
        )


@pytest.mark.parametrize(
    "change",
    [
        {"stafettlogg_id": "log-2"},
        {"entry_id": "entry-2"},
        {"epoch": 2},
        {"type": "message"},
        {"created_at": "2026-11-22T10:00:01Z"},
    ],
)
def test_ciphertext_moved_to_another_header_fails(
    author: ParticipantKeys, change: dict[str, object]
) -> None:
    epoch_key = new_epoch_key()
    sealed = seal_envelope(
        b"x", header=_header(), epoch_key=epoch_key, author_key=author.signing_key()
    )
    moved = msgspec.structs.replace(sealed, header=_header(**change))
    with pytest.raises(EnvelopeError):
        open_envelope(moved, epoch_key=epoch_key, author_public=author.public().signing_key())


def test_moved_ciphertext_fails_even_when_resigned(author: ParticipantKeys) -> None:
    """A participant who re-signs someone's ciphertext under a new header still cannot make it
    open: the AEAD binds the header too."""
    epoch_key = new_epoch_key()
    original = seal_envelope(
        b"x", header=_header(), epoch_key=epoch_key, author_key=author.signing_key()
    )
    moved_header = _header(entry_id="entry-2")
    unsigned = SealedEnvelope(moved_header, original.wrapped_entry_key, original.ciphertext, b"")
    resigned = msgspec.structs.replace(
        unsigned, signature=author.signing_key().sign(unsigned.signed_bytes())
    )
    with pytest.raises(EnvelopeError):
        open_envelope(resigned, epoch_key=epoch_key, author_public=author.public().signing_key())


def test_forged_author_fails(author: ParticipantKeys) -> None:
    forger = generate_participant_keys()
    epoch_key = new_epoch_key()
    sealed = seal_envelope(
        b"x", header=_header(), epoch_key=epoch_key, author_key=forger.signing_key()
    )
    with pytest.raises(EnvelopeError):
        verify_envelope_signature(sealed, author.public().signing_key())
    with pytest.raises(EnvelopeError):
        open_envelope(sealed, epoch_key=epoch_key, author_public=author.public().signing_key())


def test_flipped_ciphertext_bit_fails(author: ParticipantKeys) -> None:
    epoch_key = new_epoch_key()
    sealed = seal_envelope(
        b"x", header=_header(), epoch_key=epoch_key, author_key=author.signing_key()
    )
    tampered = bytearray(sealed.ciphertext)
    tampered[-1] ^= 1
    altered = msgspec.structs.replace(sealed, ciphertext=bytes(tampered))
    with pytest.raises(EnvelopeError):
        open_envelope(altered, epoch_key=epoch_key, author_public=author.public().signing_key())


def test_unknown_header_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"version":1,"stafettlogg_id":"a","entry_id":"b","epoch":1,"author":"c",'
            b'"type":"d","created_at":"e","extra":1}',
            type=EnvelopeHeader,
        )
