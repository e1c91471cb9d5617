"""The KEK as a named key in Vault's (or OpenBao's) transit secrets engine, reached with hvac.

The KEK never leaves Vault: auth sends each private key to `POST /v1/{mount}/encrypt/{key}` and
stores the `vault:v<n>:...` ciphertext Vault returns; opening is `POST /v1/{mount}/decrypt/{key}`.
A stolen database is useless without a Vault token allowed to decrypt under that key, and every
decryption is in Vault's audit log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import hvac
import hvac.exceptions
import requests

from services.auth.custody.errors import CustodyError, KekUnavailableError

__all__ = ["VaultTransitKek"]

_PREFIX = b"vault:v"
_AAD_DIGEST_LEN = 32
_TIMEOUT_SECONDS = 10


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class VaultTransitKek:
    """Seal and unseal through Vault transit (an AEAD key such as the default aes256-gcm96).

    The owner binding (`aad`) is enforced twice: Vault authenticates it as `associated_data`
    (Vault >= 1.14 / OpenBao with an AEAD key), and the plaintext sent to Vault starts with
    SHA-256(aad), checked in constant time on the way back, so a blob moved to another row fails
    to open even on a server that ignores `associated_data`. Guarantees confidentiality and
    integrity as Vault's key type does; does not hide the plaintext's length from Vault or the
    database. Raises CustodyError if a value does not open, KekUnavailableError if Vault cannot
    be used (unreachable, token refused, key or mount missing). Calls are blocking HTTP, so
    auth reaches it through `KeyCustody`, which runs them in a worker thread.
    """

    blocks_on_io = True  # blocking HTTP: KeyCustody runs it in a thread

    def __init__(
        self,
        url: str,
        token: str,
        *,
        mount: str = "transit",
        key_name: str = "stafett-kek",
        verify: bool | str = True,
        timeout: float = _TIMEOUT_SECONDS,
    ) -> None:
        self._client = hvac.Client(url=url, token=token, verify=verify, timeout=timeout)
        self._transit: Any = self._client.secrets.transit
        self._mount = mount
        self._key_name = key_name

    def __repr__(self) -> str:  # never the token
        return f"VaultTransitKek(mount={self._mount!r}, key_name={self._key_name!r})"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        try:
            response = self._transit.encrypt_data(
                name=self._key_name,
                plaintext=_b64(hashlib.sha256(aad).digest() + plaintext),
                associated_data=_b64(aad),
                mount_point=self._mount,
            )
            ciphertext = response["data"]["ciphertext"]
        except (hvac.exceptions.VaultError, requests.RequestException) as error:
            raise _unavailable(error) from error
        except (KeyError, TypeError) as error:
            raise KekUnavailableError("Vault transit answered without a ciphertext") from error
        sealed = str(ciphertext).encode("ascii")
        if not sealed.startswith(_PREFIX):
            raise KekUnavailableError("Vault transit answered with an unknown ciphertext format")
        return sealed

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        """Open a sealed value; raises CustodyError unless it is authentic and bound to `aad`."""
        if not sealed.startswith(_PREFIX):
            raise CustodyError("not a Vault transit ciphertext")
        try:
            response = self._transit.decrypt_data(
                name=self._key_name,
                ciphertext=sealed.decode("ascii"),
                associated_data=_b64(aad),
                mount_point=self._mount,
            )
            opened = base64.b64decode(response["data"]["plaintext"], validate=True)
        except hvac.exceptions.InvalidRequest as error:  # 400: altered, wrong key or wrong aad
            raise CustodyError("the sealed value did not open") from error
        except (hvac.exceptions.VaultError, requests.RequestException) as error:
            raise _unavailable(error) from error
        except (KeyError, TypeError, ValueError) as error:
            raise CustodyError("Vault transit answered without a plaintext") from error
        digest, plaintext = opened[:_AAD_DIGEST_LEN], opened[_AAD_DIGEST_LEN:]
        if len(digest) != _AAD_DIGEST_LEN or not hmac.compare_digest(
            digest, hashlib.sha256(aad).digest()
        ):
            raise CustodyError("the sealed value belongs to another owner")
        return plaintext


def _unavailable(error: Exception) -> KekUnavailableError:
    """Name the setting most likely at fault, never the token."""
    if isinstance(error, requests.RequestException):
        reason = f"Vault is unreachable at STAFETT_VAULT_ADDR ({type(error).__name__})"
    elif isinstance(error, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
        reason = "Vault refused STAFETT_VAULT_TOKEN (permission denied)"
    elif isinstance(error, hvac.exceptions.InvalidPath):
        reason = "Vault has no such STAFETT_VAULT_TRANSIT_MOUNT or STAFETT_VAULT_TRANSIT_KEY"
    elif isinstance(error, hvac.exceptions.VaultDown | hvac.exceptions.VaultNotInitialized):
        reason = "Vault at STAFETT_VAULT_ADDR is sealed or not initialised"
    else:
        reason = f"Vault transit failed ({type(error).__name__}: {error})"
    return KekUnavailableError(reason)
