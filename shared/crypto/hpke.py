"""Wrapping a log's epoch key for one participant with HPKE (RFC 9180, base mode).

Suite: ML-KEM-768 + X25519 hybrid KEM, HKDF-SHA256, AES-256-GCM. The `info` string binds the
wrapped key to one log, one epoch and one recipient, so a key grant moved to another log, epoch
or recipient fails to open instead of silently yielding a key.
"""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives import hpke

from shared.crypto.keys import ParticipantKeys, PublicKeys

__all__ = ["KeyGrantContext", "unwrap_epoch_key", "wrap_epoch_key"]

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_INFO_LABEL = b"stafett/keygrant/v1\x00"
EPOCH_KEY_LEN = 32


class KeyGrantContext(msgspec.Struct, frozen=True, array_like=True):
    """What a wrapped epoch key is bound to."""

    stafettlogg_id: str
    epoch: int
    recipient_kind: str  # "person" | "service"
    recipient_id: str

    def info(self) -> bytes:
        return _INFO_LABEL + msgspec.json.encode(self)


def wrap_epoch_key(epoch_key: bytes, recipient: PublicKeys, context: KeyGrantContext) -> bytes:
    """Encrypt `epoch_key` so that only the holder of `recipient`'s private key can open it."""
    if len(epoch_key) != EPOCH_KEY_LEN:
        raise ValueError("an epoch key is 32 bytes")
    return _SUITE.encrypt(epoch_key, recipient.hpke_key(), info=context.info())


def unwrap_epoch_key(wrapped: bytes, keys: ParticipantKeys, context: KeyGrantContext) -> bytes:
    """Open a key grant. Raises `cryptography.exceptions.InvalidTag` (or ValueError) if the
    grant was made for another key, log, epoch or recipient, or was altered."""
    epoch_key = _SUITE.decrypt(wrapped, keys.hpke_key(), info=context.info())
    if len(epoch_key) != EPOCH_KEY_LEN:
        raise ValueError("a key grant must hold a 32-byte epoch key")
    return epoch_key
