"""The stored test vectors of crypto format version 1 (tests/shared/vectors/, docs/crypto.md).

The checks here use the vector file and the public functions only, not the generator's
constants, so a mistake in the generator cannot confirm itself; a last test checks that the
file is what the generator makes today.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto.envelope import (
    EnvelopeError,
    EnvelopeHeader,
    SealedEnvelope,
    _seal_envelope_with,
    open_envelope,
    verify_envelope_signature,
)
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from shared.crypto.keys import ParticipantKeys, PublicKeys
from tests.shared.vectors import generate

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "envelope-v1.json").read_text(encoding="utf-8")
)
PARTICIPANTS: dict[str, dict[str, str]] = {p["name"]: p for p in VECTORS["participant_keys"]}


def _keys(name: str) -> ParticipantKeys:
    return ParticipantKeys.from_bytes(bytes.fromhex(PARTICIPANTS[name]["private_key"]))


def _context(data: dict[str, Any]) -> KeyGrantContext:
    return KeyGrantContext(
        data["stafettlogg_id"], data["epoch"], data["recipient_kind"], data["recipient_id"]
    )


def _decode(wire: str) -> SealedEnvelope:
    return msgspec.json.decode(wire.encode(), type=SealedEnvelope)


@pytest.mark.parametrize("name", sorted(PARTICIPANTS))
def test_participant_key_vector(name: str) -> None:
    vector = PARTICIPANTS[name]
    keys = _keys(name)
    assert keys.mlkem_seed.hex() == vector["mlkem_seed"]
    assert keys.x25519_private.hex() == vector["x25519_private"]
    assert keys.ed25519_private.hex() == vector["ed25519_private"]
    assert keys.to_bytes().hex() == vector["private_key"]
    public = keys.public()
    assert public.hpke_public.hex() == vector["hpke_public"]
    assert public.sign_public.hex() == vector["sign_public"]
    assert len(public.hpke_public) == 1 + 1184 + 32
    assert PublicKeys(public.hpke_public, public.sign_public) == public


def test_key_grant_vector_opens_to_the_epoch_key() -> None:
    vector = VECTORS["key_grant"]
    context = _context(vector["context"])
    assert context.info().hex() == vector["info"]
    wrapped = bytes.fromhex(vector["wrapped"])
    assert len(wrapped) == 1120 + 32 + 16
    epoch_key = unwrap_epoch_key(wrapped, _keys(vector["recipient"]), context)
    assert epoch_key.hex() == vector["epoch_key"]


@pytest.mark.parametrize(
    "negative", VECTORS["key_grant"]["negative"], ids=lambda n: str(n["reason"])
)
def test_key_grant_vector_does_not_open_in_another_context(negative: dict[str, Any]) -> None:
    vector = VECTORS["key_grant"]
    context = _context(negative["context"])
    assert context.info().hex() == negative["info"]
    with pytest.raises(InvalidTag):
        unwrap_epoch_key(bytes.fromhex(vector["wrapped"]), _keys(vector["recipient"]), context)


def test_key_grant_vector_does_not_open_for_another_key() -> None:
    vector = VECTORS["key_grant"]
    with pytest.raises(InvalidTag):
        unwrap_epoch_key(
            bytes.fromhex(vector["wrapped"]), _keys("other"), _context(vector["context"])
        )


def test_envelope_vector_reseals_byte_for_byte() -> None:
    vector = VECTORS["envelope"]
    inputs, expected = vector["inputs"], vector["expected"]
    header = msgspec.convert(inputs["header"], type=EnvelopeHeader)
    assert header.associated_data().decode() == expected["aad"]
    assert header.associated_data().hex() == expected["aad_hex"]
    sealed = _seal_envelope_with(
        bytes.fromhex(inputs["plaintext"]),
        header=header,
        epoch_key=bytes.fromhex(inputs["epoch_key"]),
        author_key=_keys(inputs["author"]).signing_key(),
        entry_key=bytes.fromhex(inputs["entry_key"]),
        key_nonce=bytes.fromhex(inputs["key_nonce"]),
        body_nonce=bytes.fromhex(inputs["body_nonce"]),
    )
    assert sealed.wrapped_entry_key.hex() == expected["wrapped_entry_key"]
    assert sealed.ciphertext.hex() == expected["ciphertext"]
    assert sealed.signed_bytes().hex() == expected["signed_bytes"]
    assert sealed.signature.hex() == expected["signature"]
    assert msgspec.json.encode(sealed).decode() == expected["wire"]
    assert bytes.fromhex(inputs["plaintext"]).decode() == inputs["plaintext_utf8"]


def test_envelope_vector_opens() -> None:
    vector = VECTORS["envelope"]
    inputs = vector["inputs"]
    sealed = _decode(vector["expected"]["wire"])
    assert sealed.header == msgspec.convert(inputs["header"], type=EnvelopeHeader)
    author_public = PublicKeys(
        bytes.fromhex(PARTICIPANTS[inputs["author"]]["hpke_public"]),
        bytes.fromhex(PARTICIPANTS[inputs["author"]]["sign_public"]),
    ).signing_key()
    plaintext = open_envelope(
        sealed, epoch_key=bytes.fromhex(inputs["epoch_key"]), author_public=author_public
    )
    assert plaintext.hex() == inputs["plaintext"]


def test_key_grant_vector_opens_the_envelope_vector() -> None:
    """The two vectors chain: the granted epoch key is the one the envelope is sealed under."""
    grant, envelope = VECTORS["key_grant"], VECTORS["envelope"]
    epoch_key = unwrap_epoch_key(
        bytes.fromhex(grant["wrapped"]), _keys(grant["recipient"]), _context(grant["context"])
    )
    opened = open_envelope(
        _decode(envelope["expected"]["wire"]),
        epoch_key=epoch_key,
        author_public=_keys(envelope["inputs"]["author"]).public().signing_key(),
    )
    assert opened.hex() == envelope["inputs"]["plaintext"]


@pytest.mark.parametrize("negative", VECTORS["envelope"]["negative"], ids=lambda n: str(n["name"]))
def test_envelope_negative_vectors_fail(negative: dict[str, Any]) -> None:
    vector = VECTORS["envelope"]
    inputs = vector["inputs"]
    sealed = _decode(negative["wire"])
    author_public = _keys(inputs["author"]).public().signing_key()
    if negative["signature_valid"]:
        verify_envelope_signature(sealed, author_public)
    else:
        with pytest.raises(EnvelopeError):
            verify_envelope_signature(sealed, author_public)
    with pytest.raises(EnvelopeError):
        open_envelope(
            sealed, epoch_key=bytes.fromhex(inputs["epoch_key"]), author_public=author_public
        )


def test_signature_by_another_key_is_that_keys_deterministic_signature() -> None:
    vector = VECTORS["envelope"]
    forged = next(n for n in vector["negative"] if n["name"] == "signed_by_another_key")
    sealed = _decode(forged["wire"])
    assert sealed.signature.hex() == forged["signature"]
    other = _keys("other")
    assert other.signing_key().sign(sealed.signed_bytes()) == sealed.signature
    verify_envelope_signature(sealed, other.public().signing_key())


def test_vector_file_is_what_the_generator_makes() -> None:
    wrapped = bytes.fromhex(VECTORS["key_grant"]["wrapped"])
    assert json.loads(generate.render(generate.build_vectors(wrapped))) == VECTORS
