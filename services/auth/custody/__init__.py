"""Key custody: sealing private keys under the key-encryption key (KEK).

The KEK lives outside the database, so a stolen auth database alone opens no private key:
a key file or an environment variable locally (`LocalKek`, AES-256-GCM in this process), a named
key in Vault/OpenBao's transit secrets engine in production (`VaultTransitKek`, the KEK never
leaves Vault). Everything sealed here is bound by its associated data to its owner (kind and id),
so a sealed blob moved to another row fails to open. Which backend runs, and the check that it
opens what the database already holds, is `services.auth.custody.startup`.

auth's code sees one asynchronous interface, `KeyCustody`: the backends are blocking primitives
(`BlockingKek`), and a backend that waits on the network (Vault, over hvac and requests) runs in
a worker thread, so a slow or unreachable Vault never stalls the event loop that serves logins
and token exchanges. The local AES-GCM backend runs inline: a few microseconds of CPU cost less
than a hop to a thread.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.auth.custody.errors import CustodyError, KekUnavailableError
from services.auth.custody.local import LocalKek
from services.auth.custody.vault import VaultTransitKek

__all__ = [
    "BlockingKek",
    "CustodyError",
    "KekUnavailableError",
    "KeyCustody",
    "LocalKek",
    "VaultTransitKek",
    "as_custody",
    "owner_aad",
]


class BlockingKek(Protocol):
    """A KEK backend: seals and unseals small secrets (private keys), blocking until done.
    `blocks_on_io` says whether a call may wait on the network (then it runs in a thread)."""

    blocks_on_io: bool

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unseal(self, sealed: bytes, aad: bytes) -> bytes: ...


class KeyCustody:
    """The asynchronous custody auth uses: the same guarantees as its backend (see `LocalKek`,
    `VaultTransitKek`), raising the same CustodyError / KekUnavailableError; a backend that
    blocks on I/O runs in a worker thread (asyncio.to_thread), never on the event loop."""

    __slots__ = ("_kek",)

    def __init__(self, kek: BlockingKek) -> None:
        self._kek = kek

    def __repr__(self) -> str:  # the backend's repr never shows a secret
        return f"KeyCustody({self._kek!r})"

    @property
    def backend(self) -> BlockingKek:
        return self._kek

    async def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        if self._kek.blocks_on_io:
            return await asyncio.to_thread(self._kek.seal, plaintext, aad)
        return self._kek.seal(plaintext, aad)

    async def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        """Open a sealed value; raises CustodyError unless it is authentic and bound to `aad`."""
        if self._kek.blocks_on_io:
            return await asyncio.to_thread(self._kek.unseal, sealed, aad)
        return self._kek.unseal(sealed, aad)


def as_custody(custody: KeyCustody | BlockingKek) -> KeyCustody:
    """`custody` as the asynchronous interface (a backend is wrapped; a KeyCustody stays)."""
    return custody if isinstance(custody, KeyCustody) else KeyCustody(custody)


def owner_aad(owner_kind: str, owner_id: str) -> bytes:
    """The associated data binding a sealed key to its owner ("person", "service", "signing")."""
    return b"stafett/custody/v1\x00" + owner_kind.encode() + b"\x00" + owner_id.encode()
