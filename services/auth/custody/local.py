"""The KEK held in this process: read from a key file or an environment variable."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.auth.custody.errors import CustodyError

__all__ = ["LocalKek"]

_VERSION = 1
_NONCE_LEN = 12


class LocalKek:
    """AES-256-GCM (NIST SP 800-38D) under a 256-bit KEK read from a file or the environment.

    Format: version byte || 96-bit random nonce || ciphertext+tag. Guarantees confidentiality and
    integrity of the plaintext and its binding to `aad`; does not hide the plaintext's length.
    """

    blocks_on_io = False  # CPU only: KeyCustody runs it inline

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
