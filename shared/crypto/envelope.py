"""The sealed entry envelope, version 1. Format and test vectors: docs/crypto.md.

Sealing (by the author, in the portal or an integrating client):

1. a fresh 256-bit entry key seals the plaintext with AES-256-GCM (NIST SP 800-38D);
2. the entry key is wrapped under the log's epoch key with AES-256-GCM;
3. both use the encoded header as associated data, so the ciphertext is bound to the log, the
   entry id, the epoch, the author, the type, the time and the format version;
4. the author signs (Ed25519, RFC 8032) the header, the wrapped key and the ciphertext.

Opening checks the signature first, then both AEAD tags. Anything moved between entries or logs,
or claiming another author, fails with `EnvelopeError`. The per-entry key lets one entry be
crypto-shredded alone later.
"""

from __future__ import annotations

import os
from typing import Literal

import msgspec
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ENVELOPE_VERSION",
    "EnvelopeError",
    "EnvelopeHeader",
    "SealedEnvelope",
    "new_epoch_key",
    "open_envelope",
    "seal_envelope",
    "verify_envelope_signature",
]

ENVELOPE_VERSION = 1
_NONCE_LEN = 12
_KEY_LEN = 32
_SIGNATURE_LABEL = b"stafett/entry-signature/v1\x00"
MAX_CIPHERTEXT = 256 * 1024


class EnvelopeError(Exception):
    """The envelope is not authentic: wrong key, moved, altered or forged."""


class EnvelopeHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the ciphertext is bound to, encoded in field order as associated data."""

    version: Literal[1]
    stafettlogg_id: str
    entry_id: str
    epoch: int
    author: str
    type: str
    created_at: str  # RFC 3339, UTC

    def associated_data(self) -> bytes:
        return msgspec.json.encode(self)


class SealedEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An entry as logg stores it: no key that opens it, only what readers need to open it."""

    header: EnvelopeHeader
    wrapped_entry_key: bytes  # nonce || AES-256-GCM(epoch key, entry key)
    ciphertext: bytes  # nonce || AES-256-GCM(entry key, plaintext)
    signature: bytes  # Ed25519 over label || header || wrapped_entry_key || ciphertext

    def signed_bytes(self) -> bytes:
        return _signed_bytes(self.header, self.wrapped_entry_key, self.ciphertext)


def new_epoch_key() -> bytes:
    """A fresh random 256-bit epoch key."""
    return os.urandom(_KEY_LEN)


def seal_envelope(
    plaintext: bytes,
    *,
    header: EnvelopeHeader,
    epoch_key: bytes,
    author_key: ed25519.Ed25519PrivateKey,
) -> SealedEnvelope:
    """Encrypt and sign `plaintext` for everyone who holds `epoch_key`."""
    return _seal_envelope_with(
        plaintext,
        header=header,
        epoch_key=epoch_key,
        author_key=author_key,
        entry_key=os.urandom(_KEY_LEN),
        key_nonce=os.urandom(_NONCE_LEN),
        body_nonce=os.urandom(_NONCE_LEN),
    )


def _seal_envelope_with(
    plaintext: bytes,
    *,
    header: EnvelopeHeader,
    epoch_key: bytes,
    author_key: ed25519.Ed25519PrivateKey,
    entry_key: bytes,
    key_nonce: bytes,
    body_nonce: bytes,
) -> SealedEnvelope:
    """`seal_envelope` with the entry key and both nonces given instead of drawn.

    Only for the test vectors (tests/shared/vectors/): reusing a nonce or an entry key breaks
    AES-GCM, so real sealing always goes through `seal_envelope`."""
    if len(epoch_key) != _KEY_LEN:
        raise ValueError("an epoch key is 32 bytes")
    if len(entry_key) != _KEY_LEN:
        raise ValueError("an entry key is 32 bytes")
    if len(key_nonce) != _NONCE_LEN or len(body_nonce) != _NONCE_LEN:
        raise ValueError("an AES-GCM nonce is 12 bytes")
    aad = header.associated_data()
    wrapped_entry_key = _aead_seal(epoch_key, key_nonce, entry_key, aad)
    ciphertext = _aead_seal(entry_key, body_nonce, plaintext, aad)
    signature = author_key.sign(_signed_bytes(header, wrapped_entry_key, ciphertext))
    return SealedEnvelope(header, wrapped_entry_key, ciphertext, signature)


def verify_envelope_signature(
    envelope: SealedEnvelope, author_public: ed25519.Ed25519PublicKey
) -> None:
    """Check that `author_public` signed this envelope. Needs no key that opens it, so logg can
    refuse forged writes. Raises EnvelopeError."""
    try:
        author_public.verify(envelope.signature, envelope.signed_bytes())
    except InvalidSignature as error:
        raise EnvelopeError("the signature does not match the author") from error


def open_envelope(
    envelope: SealedEnvelope,
    *,
    epoch_key: bytes,
    author_public: ed25519.Ed25519PublicKey,
) -> bytes:
    """Verify the author's signature and both AEAD tags, then return the plaintext.

    Guarantees: the plaintext was sealed by the holder of the author's signing key for exactly
    this header. Does not guarantee that the header's `author` names that key's owner: the
    caller must look the key up by `envelope.header.author` from a trusted directory."""
    if envelope.header.version != ENVELOPE_VERSION:
        raise EnvelopeError("unknown envelope version")
    verify_envelope_signature(envelope, author_public)
    aad = envelope.header.associated_data()
    try:
        entry_key = _aead_open(epoch_key, envelope.wrapped_entry_key, aad)
        return _aead_open(entry_key, envelope.ciphertext, aad)
    except (InvalidTag, ValueError) as error:
        raise EnvelopeError("the envelope does not open under this key and header") from error


def _signed_bytes(header: EnvelopeHeader, wrapped_entry_key: bytes, ciphertext: bytes) -> bytes:
    aad = header.associated_data()
    return b"".join(
        (
            _SIGNATURE_LABEL,
            len(aad).to_bytes(4, "big"),
            aad,
            len(wrapped_entry_key).to_bytes(4, "big"),
            wrapped_entry_key,
            ciphertext,
        )
    )


def _aead_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _aead_open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < _NONCE_LEN + 16:
        raise ValueError("too short to be AES-GCM output")
    return AESGCM(key).decrypt(sealed[:_NONCE_LEN], sealed[_NONCE_LEN:], aad)
