"""auth's service-token signing keys, rotated with overlap: publish ahead, sign, retire.

Every key goes through three stages, all decided from two times stored with it:

1. **published** from `created_at`: it is in the JWKS, but does not sign yet. It stays so for
   `PUBLISH_AHEAD_SECONDS`, longer than a verifier may cache the JWKS (`JWKS_MAX_AGE_SECONDS`)
   plus the time an auth instance takes to reread the key table (`RELOAD_SECONDS`). So every
   verifier and every auth instance knows the key before the first token it signs appears.
2. **signing** from `signs_from` until the next generation's `signs_from`.
3. **retired** once the next generation has been signing for `RETIRE_AFTER_SECONDS` (the longest
   token lifetime plus the verifiers' leeway plus clock skew): no token it signed can still be
   accepted. Its row, and with it the sealed private key, is deleted; it leaves the JWKS.

Rotation is due when the signing key has signed for about `rotation_seconds`
(STAFETT_TOKEN_KEY_ROTATION_HOURS). It is checked at start and lazily, at most once per
`RELOAD_SECONDS`, whenever a token is issued or the JWKS is served; `stafett keys rotate` starts
one at once. Several instances on one database are safe: a new key is the row of generation
n + 1, and the unique constraint on `generation` lets exactly one INSERT win; the others reload.

Private keys are sealed under the KEK (services.auth.custody) bound to `("signing", kid)` and
unsealed only in memory, only for the key that signs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from joserfc.jwk import KeySet, OKPKey
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from services.auth.custody import BlockingKek, KeyCustody, as_custody, owner_aad
from services.auth.custody.startup import open_custody
from services.auth.settings import Settings
from shared.db import create_engine
from shared.tokens import MAX_TOKEN_LIFETIME, TOKEN_LEEWAY

__all__ = [
    "JWKS_MAX_AGE_SECONDS",
    "PUBLISH_AHEAD_SECONDS",
    "RELOAD_SECONDS",
    "RETIRE_AFTER_SECONDS",
    "SigningKeyInfo",
    "SigningKeyRing",
    "rotate_signing_key",
]

JWKS_MAX_AGE_SECONDS = 300
RELOAD_SECONDS = 60
PUBLISH_AHEAD_SECONDS = 600
_CLOCK_SKEW = 30
RETIRE_AFTER_SECONDS = MAX_TOKEN_LIFETIME + TOKEN_LEEWAY + _CLOCK_SKEW

if RELOAD_SECONDS + JWKS_MAX_AGE_SECONDS >= PUBLISH_AHEAD_SECONDS:  # pragma: no cover
    raise RuntimeError("a new key must be published longer than any cache may hold the JWKS")


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """A signing key's public half and schedule (what `stafett keys rotate` reports)."""

    kid: str
    generation: int
    created_at: int
    signs_from: int
    public_jwk: str


def _signer(keys: Sequence[SigningKeyInfo], now: int) -> SigningKeyInfo | None:
    """The newest key whose signing time has come."""
    started = [key for key in keys if key.signs_from <= now]
    return max(started, key=lambda key: key.generation) if started else None


def _retired(keys: Sequence[SigningKeyInfo], now: int) -> set[str]:
    """Keys whose successor has signed for RETIRE_AFTER_SECONDS: none of their tokens lives."""
    retired = set()
    for key in keys:
        successors = [later.signs_from for later in keys if later.generation > key.generation]
        if successors and min(successors) + RETIRE_AFTER_SECONDS <= now:
            retired.add(key.kid)
    return retired


def _pending(keys: Sequence[SigningKeyInfo], now: int) -> SigningKeyInfo | None:
    """A published key that does not sign yet, if there is one."""
    waiting = [key for key in keys if key.signs_from > now]
    return max(waiting, key=lambda key: key.generation) if waiting else None


class SigningKeyRing:
    """The signing keys of this auth instance, as stored in its database."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        custody: KeyCustody | BlockingKek,
        *,
        rotation_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rotation_seconds <= PUBLISH_AHEAD_SECONDS + RETIRE_AFTER_SECONDS:
            raise ValueError("keys must sign longer than a rotation's overlap lasts")
        self._sessionmaker = sessionmaker
        self._custody = as_custody(custody)
        self._rotation_seconds = rotation_seconds
        self._clock = clock
        self._keys: list[SigningKeyInfo] = []
        self._private: dict[str, OKPKey] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def _now(self) -> int:
        return int(self._clock())

    async def refresh(self, *, force: bool = False) -> None:
        """Reread the key table if RELOAD_SECONDS have passed (or `force`), rotating when due
        and deleting retired keys. Guarantees afterwards: at least one key signs."""
        if not force and self._fresh():
            return
        async with self._lock:
            if not force and self._fresh():
                return
            await self._load()
            now = self._now()
            if self._rotation_due(now):
                await self._insert_next(now)
            if _retired(self._keys, now):
                await self._delete_retired(now)

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < RELOAD_SECONDS

    def _rotation_due(self, now: int) -> bool:
        if not self._keys:
            return True
        latest = max(self._keys, key=lambda key: key.generation)
        if latest.signs_from > now:  # a rotation is already under way
            return False
        return now >= latest.signs_from + self._rotation_seconds - PUBLISH_AHEAD_SECONDS

    async def rotate(self) -> SigningKeyInfo:
        """Start a rotation now, whatever the signing key's age: publish a new key that signs
        after PUBLISH_AHEAD_SECONDS. If a rotation is already under way (a published key that
        does not sign yet), no second key is added and that key is returned."""
        async with self._lock:
            await self._load()
            now = self._now()
            pending = _pending(self._keys, now)
            if pending is not None:
                return pending
            await self._insert_next(now)
            newest = max(self._keys, key=lambda key: key.generation)
            return newest

    async def _load(self) -> None:
        async with self._sessionmaker() as db:
            rows = await models.list_signing_keys(db)
        self._keys = [
            SigningKeyInfo(row.kid, row.generation, row.created_at, row.signs_from, row.public_jwk)
            for row in rows
        ]
        kids = {key.kid for key in self._keys}
        self._private = {kid: key for kid, key in self._private.items() if kid in kids}
        self._loaded_at = self._clock()

    async def _insert_next(self, now: int) -> None:
        """Insert generation n + 1. If another instance inserted it first, its key is used."""
        latest = max(self._keys, key=lambda key: key.generation) if self._keys else None
        generation = 1 if latest is None else latest.generation + 1
        # The very first key signs at once: no verifier can have cached an older JWKS.
        signs_from = now if latest is None else max(now + PUBLISH_AHEAD_SECONDS, latest.signs_from)
        key = OKPKey.generate_key(
            "Ed25519", parameters={"kid": secrets.token_urlsafe(12), "use": "sig"}
        )
        kid = str(key.kid)
        async with self._sessionmaker() as db:
            db.add(
                models.SigningKeyRow(
                    kid=kid,
                    public_jwk=json.dumps(key.as_dict(private=False)),
                    sealed_private_key=await self._custody.seal(
                        json.dumps(key.as_dict(private=True)).encode(), owner_aad("signing", kid)
                    ),
                    created_at=now,
                    generation=generation,
                    signs_from=signs_from,
                )
            )
            try:
                await db.commit()
            except IntegrityError:  # another instance rotated first: its key is the one
                await db.rollback()
        await self._load()

    async def _delete_retired(self, now: int) -> None:
        retired = _retired(self._keys, now)
        async with self._sessionmaker() as db:
            await db.execute(
                delete(models.SigningKeyRow).where(models.SigningKeyRow.kid.in_(retired))
            )
            await db.commit()
        await self._load()

    async def signing_key(self) -> OKPKey:
        """The private key that signs now (after a lazy refresh)."""
        await self.refresh()
        signer = _signer(self._keys, self._now())
        if signer is None:  # pragma: no cover - refresh guarantees a signing key
            raise RuntimeError("no signing key")
        private = self._private.get(signer.kid)
        if private is None:
            private = await self._unseal(signer.kid)
            self._private[signer.kid] = private
        return private

    async def _unseal(self, kid: str) -> OKPKey:
        async with self._sessionmaker() as db:
            row = await db.scalar(
                select(models.SigningKeyRow).where(models.SigningKeyRow.kid == kid)
            )
        if row is None:
            raise RuntimeError("the signing key vanished from the database")
        sealed = await self._custody.unseal(row.sealed_private_key, owner_aad("signing", kid))
        return OKPKey.import_key(json.loads(sealed))

    async def public_keys(self) -> KeySet:
        """The keys to publish now: pending, signing, and those still inside their overlap.
        Keys retired by the clock are left out even before the next reload."""
        await self.refresh()
        retired = _retired(self._keys, self._now())
        return KeySet(
            [
                OKPKey.import_key(json.loads(key.public_jwk))
                for key in self._keys
                if key.kid not in retired
            ]
        )

    def schedule(self) -> list[SigningKeyInfo]:
        """The keys as last loaded, oldest first."""
        return sorted(self._keys, key=lambda key: key.generation)


async def rotate_signing_key(settings: Settings) -> SigningKeyInfo:
    """`stafett keys rotate`: start a rotation in auth's database now (see SigningKeyRing.rotate).
    Running auth instances pick the new key up within RELOAD_SECONDS, long before it signs."""
    custody = open_custody(settings).custody  # the configured backend: file, env or Vault
    engine = create_engine(settings.database_url)
    try:
        ring = SigningKeyRing(
            async_sessionmaker(engine, expire_on_commit=False),
            custody,
            rotation_seconds=settings.token_key_rotation_hours * 3600,
        )
        return await ring.rotate()
    finally:
        await engine.dispose()
