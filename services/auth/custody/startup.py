"""Choosing the KEK backend from the settings, and refusing to start with a KEK that does not work.

A wrong or missing KEK must fail loudly at start, never seal new keys under a fresh KEK while the
database holds keys sealed under the old one: at start auth seals and opens a probe, then opens
one private key the database already holds (the newest signing key, else a service unit's, else
a person's). In local mode a missing key file is created only while the database holds no sealed
key.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.custody import (
    CustodyError,
    KekUnavailableError,
    KeyCustody,
    as_custody,
    owner_aad,
)
from services.auth.custody.local import LocalKek
from services.auth.custody.vault import VaultTransitKek
from services.auth.models import PersonRow, ServiceUnitRow, SigningKeyRow
from services.auth.settings import Settings
from shared.settings import SettingsError, load_or_create_secret

__all__ = ["OpenedCustody", "open_custody"]

_PROBE = b"stafett/custody/probe"


@dataclass(frozen=True, slots=True)
class OpenedCustody:
    """The custody the settings chose, not yet checked against the database (see `check`)."""

    custody: KeyCustody
    setting: str  # what to tell the operator to fix
    created_file: Path | None = None  # the local key file, if it was missing and made just now

    async def check(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Raise SettingsError, naming the setting, unless the KEK seals and opens a probe and
        opens a private key already sealed in the database. Guarantees nothing about keys it
        did not open (one sample proves the KEK, not every row)."""
        aad = owner_aad("probe", secrets.token_hex(8))
        try:
            sealed = await self.custody.seal(_PROBE, aad)
            opened = await self.custody.unseal(sealed, aad)
        except CustodyError as error:
            raise SettingsError(f"{self.setting}: the KEK does not work: {error}") from error
        if opened != _PROBE:
            raise SettingsError(f"{self.setting}: the KEK returned another value than it sealed")
        sample = await _sealed_sample(sessionmaker)
        if sample is None:
            return
        if self.created_file is not None:
            self.created_file.unlink(missing_ok=True)  # never leave a fresh, wrong KEK behind
            raise SettingsError(
                f"STAFETT_KEK_FILE ({self.created_file}) was missing but the database "
                "holds keys sealed under a KEK: restore the key file; a new KEK opens none of them"
            )
        try:
            await self.custody.unseal(*sample)
        except KekUnavailableError as error:
            raise SettingsError(f"{self.setting}: {error}") from error
        except CustodyError as error:
            raise SettingsError(
                f"{self.setting}: the KEK does not open the private keys sealed in the database "
                "(wrong or replaced KEK?)"
            ) from error


def open_custody(settings: Settings) -> OpenedCustody:
    """The custody for STAFETT_KEK_BACKEND (validated by Settings). Makes no network call; in
    local mode with the file backend a missing key file is created (undone by `check` if the
    database already holds sealed keys)."""
    if settings.kek_backend == "vault":
        if settings.vault_addr is None or settings.vault_token is None:
            raise SettingsError("STAFETT_VAULT_ADDR and STAFETT_VAULT_TOKEN must be set")
        custody = KeyCustody(
            VaultTransitKek(
                settings.vault_addr,
                settings.vault_token.reveal().strip(),
                mount=settings.vault_transit_mount,
                key_name=settings.vault_transit_key,
            )
        )
        setting = (
            f"STAFETT_KEK_BACKEND=vault ({settings.vault_addr}, "
            f"{settings.vault_transit_mount}/{settings.vault_transit_key})"
        )
        return OpenedCustody(custody, setting)
    if settings.kek_backend == "env":
        if settings.kek is None:
            raise SettingsError("STAFETT_KEK must be set for STAFETT_KEK_BACKEND=env")
        kek = base64.urlsafe_b64decode(settings.kek.reveal().strip())
        return OpenedCustody(as_custody(LocalKek(kek)), "STAFETT_KEK")
    existed = settings.kek_file.exists()
    kek = load_or_create_secret(settings.kek_file, mode=settings.mode)
    return OpenedCustody(
        as_custody(LocalKek(kek)),
        f"STAFETT_KEK_FILE ({settings.kek_file})",
        created_file=None if existed else settings.kek_file,
    )


async def _sealed_sample(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[bytes, bytes] | None:
    """One sealed private key from the database with its owner binding, or None if none."""
    async with sessionmaker() as db:
        signing = (
            await db.execute(
                select(SigningKeyRow.kid, SigningKeyRow.sealed_private_key)
                .order_by(SigningKeyRow.generation.desc())
                .limit(1)
            )
        ).first()
        if signing is not None:
            return signing.sealed_private_key, owner_aad("signing", signing.kid)
        unit = (
            await db.execute(select(ServiceUnitRow.id, ServiceUnitRow.sealed_private_keys).limit(1))
        ).first()
        if unit is not None:
            return unit.sealed_private_keys, owner_aad("service", unit.id)
        person = (
            await db.execute(select(PersonRow.subject, PersonRow.sealed_private_keys).limit(1))
        ).first()
        if person is not None:
            return person.sealed_private_keys, owner_aad("person", person.subject)
        return None
