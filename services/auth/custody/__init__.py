"""Key custody: sealing private keys under the key-encryption key (KEK).

The KEK lives outside the database, so a stolen auth database alone opens no private key:
a key file or an environment variable locally (`LocalKek`, AES-256-GCM in this process), a named
key in Vault/OpenBao's transit secrets engine in production (`VaultTransitKek`, the KEK never
leaves Vault). Everything sealed here is bound by its associated data to its owner (kind and id),
so a sealed blob moved to another row fails to open. Which backend runs, and the check that it
opens what the database already holds, is `services.auth.custody.startup`.
"""

from __future__ import annotations

from typing import Protocol

from services.auth.custody.errors import CustodyError, KekUnavailableError
from services.auth.custody.local import LocalKek
from services.auth.custody.vault import VaultTransitKek

__all__ = [
    "CustodyError",
    "KekUnavailableError",
    "KeyCustody",
    "LocalKek",
    "VaultTransitKek",
    "owner_aad",
]


class KeyCustody(Protocol):
    """Seals and unseals small secrets (private keys) under a key the database never sees."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unseal(self, sealed: bytes, aad: bytes) -> bytes: ...


def owner_aad(owner_kind: str, owner_id: str) -> bytes:
    """The associated data binding a sealed key to its owner ("person", "service", "signing")."""
    return b"stafett/custody/v1\x00" + owner_kind.encode() + b"\x00" + owner_id.encode()
