"""Key custody: sealing private keys under the key-encryption key (KEK).

The KEK lives outside the database (a file locally; a Vault transit or KMS backend later), so a
stolen auth database alone opens no private key. Everything sealed here is bound by its associated
data to its owner (kind and id), so a sealed blob moved to another row fails to open.
"""

from __future__ import annotations

import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["CustodyError", "KeyCustody", "LocalKek", "owner_aad"]

_VERSION = 1
_NONCE_LEN = 12


class CustodyError(Exception):
    """A sealed value did not open: wrong KEK, wrong owner, or altered."""


class KeyCustody(Protocol):
    """Seals and unseals small secrets (private keys) under a key the database never sees."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unseal(self, sealed: bytes, aad: bytes) -> bytes: ...


def owner_aad(owner_kind: str, owner_id: str) -> bytes:
    """The associated data binding a sealed key to its owner ("person", "service", "signing")."""
    return b"stafett/custody/v1\x00" + owner_kind.encode() + b"\x00" + owner_id.encode()


class LocalKek:
    """AES-256-GCM (NIST SP 800-38D) under a 256-bit KEK read from a file.

    Format: version byte || 96-bit random nonce || ciphertext+tag. Guarantees confidentiality and
    integrity of the plaintext and its binding to `aad`; does not hide the plaintext's length.
    """

    def __init__(self, kek: bytes) -> None:
        if len(kek) < 32:
            raise ValueError("the KEK must hold at least 32 bytes")
        self._aead = AESGCM(kek[:32])

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_LEN)
        return bytes([_VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        """Open a sealed value; raises CustodyError unless it is authentic and bound to `aad`."""
        if len(sealed) < 1 + _NONCE_LEN + 16 or sealed[0] != _VERSION:
            raise CustodyError("not a sealed value of a known version")
        nonce = sealed[1 : 1 + _NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE_LEN :], aad)
        except InvalidTag as error:
            raise CustodyError("the sealed value did not open") from error
