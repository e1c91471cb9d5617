"""The municipality's own settings, kept by its administrators.

- `youth_consent_age`: from this age (15 or 16, a municipal decision) the young person takes part in
  their stafettlogg themself and gives or withdraws consent. The portal checks the child's age
  against it (only the portal sees the sealed birth date).
- `retention_years`: how long a closed stafettlogg is kept before it is due for erasure.

One row; every change leaves a record in the administrators' audit table.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Final

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.auth import models
from services.auth.directory_admin.routes import require_administrator
from services.auth.directory_admin.service import Administrator
from services.auth.tokens import Caller
from shared.json_bodies import json_body_guard

__all__ = [
    "DEFAULT_SETTINGS",
    "MunicipalSettings",
    "MunicipalSettingsController",
    "MunicipalSettingsRow",
    "MunicipalSettingsStore",
    "MunicipalSettingsUpdate",
]

_ROW_ID: Final = 1
YouthConsentAge = Annotated[int, msgspec.Meta(ge=15, le=16)]
RetentionYears = Annotated[int, msgspec.Meta(ge=1, le=100)]


class MunicipalSettings(msgspec.Struct, frozen=True):
    youth_consent_age: int
    retention_years: int
    updated_at: int | None = None  # seconds since the epoch; None: never changed


class MunicipalSettingsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    youth_consent_age: YouthConsentAge
    retention_years: RetentionYears


# Pasient- og brukerrettighetsloven § 4-3 sets 16 for consent to health care; a municipality may
# choose 15 (barnevernsloven gives rights from 15). Ten years is a common municipal choice.
DEFAULT_SETTINGS: Final = MunicipalSettings(youth_consent_age=16, retention_years=10)


class MunicipalSettingsRow(models.Base):
    __tablename__ = "municipal_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    youth_consent_age: Mapped[int] = mapped_column(Integer)
    retention_years: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(32))


class MunicipalSettingsStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def current(self) -> MunicipalSettings:
        async with self._sessionmaker() as db:
            row = await db.scalar(
                select(MunicipalSettingsRow).where(MunicipalSettingsRow.id == _ROW_ID)
            )
        if row is None:
            return DEFAULT_SETTINGS
        return MunicipalSettings(row.youth_consent_age, row.retention_years, row.updated_at)

    async def change(
        self, actor: Administrator, update: MunicipalSettingsUpdate
    ) -> MunicipalSettings:
        now = int(time.time())
        async with self._sessionmaker() as db:
            row = await db.get(MunicipalSettingsRow, _ROW_ID)
            if row is None:
                row = MunicipalSettingsRow(id=_ROW_ID)
                db.add(row)
            row.youth_consent_age = update.youth_consent_age
            row.retention_years = update.retention_years
            row.updated_at = now
            row.updated_by = actor.subject
            models.add_admin_audit(
                db,
                at=now,
                actor=actor.subject,
                action="municipality.settings",
                target_kind="municipality",
                target_id="settings",
                detail=json.dumps(msgspec.to_builtins(update), sort_keys=True),
            )
            await db.commit()
        return MunicipalSettings(update.youth_consent_age, update.retention_years, now)


class MunicipalSettingsController(Controller):
    """Anyone signed in may read the settings (the portal applies them); administrators
    change them."""

    path = "/municipality/settings"

    @get("/")
    async def read(
        self, caller: Caller, municipal_settings: NamedDependency[MunicipalSettingsStore]
    ) -> MunicipalSettings:
        del caller  # a valid token is all reading needs
        return await municipal_settings.current()

    @put(
        "/",
        dependencies={"administrator": Provide(require_administrator)},
        guards=[json_body_guard],
    )
    async def change(
        self,
        administrator: NamedDependency[Administrator],
        data: JSONBody[MunicipalSettingsUpdate],
        municipal_settings: NamedDependency[MunicipalSettingsStore],
    ) -> MunicipalSettings:
        return await municipal_settings.change(administrator, data)
