"""The directory: persons (by a keyed hash of their fødselsnummer), service units, the staff
who work for them (one person may work for several), and the custody of their participant keys.

The fødselsnummer (`pid`) is never stored: only HMAC-SHA256 under a secret kept outside the
database, so the directory can find a person again without being able to list who they are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import JSONBody, Parameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from services.auth.custody import BlockingKek, KeyCustody, as_custody, owner_aad
from services.auth.test_idp.persons import SYNTHETIC_PERSONS, SYNTHETIC_SERVICE_UNITS
from services.auth.tokens import Caller
from shared.crypto.keys import ParticipantKeys, generate_participant_keys
from shared.json_bodies import json_body_guard
from shared.problems import ProblemError

__all__ = [
    "UNKNOWN_GUARDIAN_NAME",
    "Directory",
    "DirectoryController",
    "DirectoryService",
    "NotInStaffDirectoryError",
    "PersonLookup",
    "PersonView",
    "PrincipalView",
    "ServiceUnitView",
    "is_acting_admin",
    "is_valid_fodselsnummer",
]

UNKNOWN_GUARDIAN_NAME = "Foresatt (ikke logget inn ennå)"
_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def is_valid_fodselsnummer(pid: str) -> bool:
    """True for 11 ASCII digits whose two mod-11 check digits are right (fødselsnummer and
    D-nummer). Says nothing about whether the number was ever issued."""
    if len(pid) != 11 or not pid.isascii() or not pid.isdigit():
        return False
    digits = [int(c) for c in pid]
    for weights, position in ((_W1, 9), (_W2, 10)):
        check = 11 - sum(w * d for w, d in zip(weights, digits, strict=False)) % 11
        check = 0 if check == 11 else check
        if check == 10 or check != digits[position]:
            return False
    return True


class NotInStaffDirectoryError(Exception):
    """A staff login by someone the staff directory does not know, or no longer lets in."""


def is_acting_admin(person: models.PersonRow, role: str) -> bool:
    """True only for an active staff member flagged as administrator, logged in as staff: what
    the `admin` claim of a service token and the session context may say. Read from the
    directory each time, so a revoked flag or a deactivation takes effect at the next token."""
    return (
        role == "staff"
        and person.kind == "staff"
        and bool(person.admin)
        and person.deactivated_at is None
    )


class PersonLookup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pid: Annotated[str, msgspec.Meta(max_length=32)]


class ServiceUnitView(msgspec.Struct, frozen=True):
    id: str
    name: str
    hpke_public: bytes
    sign_public: bytes


class PersonView(msgspec.Struct, frozen=True):
    subject: str
    name: str
    hpke_public: bytes
    sign_public: bytes


class PrincipalView(msgspec.Struct, frozen=True):
    kind: Literal["person", "service"]
    id: str
    name: str
    hpke_public: bytes
    sign_public: bytes


@dataclass(frozen=True, slots=True)
class _Seal:
    public_hpke: bytes
    public_sign: bytes
    sealed: bytes


class DirectoryService:
    """Persons, service units and their sealed keys."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        custody: KeyCustody | BlockingKek,
        pid_hmac_key: bytes,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._custody = as_custody(custody)
        self._pid_hmac_key = pid_hmac_key

    def pid_hmac(self, pid: str) -> str:
        """The keyed hash under which a fødselsnummer is stored; the pid itself never is."""
        return hmac.new(self._pid_hmac_key, pid.encode("ascii"), hashlib.sha256).hexdigest()

    async def _new_keys(self, owner_kind: str, owner_id: str) -> _Seal:
        keys = generate_participant_keys()
        public = keys.public()
        sealed = await self._custody.seal(keys.to_bytes(), owner_aad(owner_kind, owner_id))
        return _Seal(public.hpke_public, public.sign_public, sealed)

    async def person_keys(self, person: models.PersonRow) -> ParticipantKeys:
        """Unseal a person's private keys (raises CustodyError if they are not authentic)."""
        raw = await self._custody.unseal(
            person.sealed_private_keys, owner_aad("person", person.subject)
        )
        return ParticipantKeys.from_bytes(raw)

    async def service_keys(self, unit: models.ServiceUnitRow) -> ParticipantKeys:
        """Unseal a service unit's private keys (raises CustodyError if not authentic)."""
        raw = await self._custody.unseal(unit.sealed_private_keys, owner_aad("service", unit.id))
        return ParticipantKeys.from_bytes(raw)

    async def new_service_unit_row(
        self, service_id: str, name: str, now: int
    ) -> models.ServiceUnitRow:
        """A unit row with fresh participant keys, sealed under the KEK (not yet stored)."""
        seal = await self._new_keys("service", service_id)
        return models.ServiceUnitRow(
            id=service_id,
            name=name,
            hpke_public=seal.public_hpke,
            sign_public=seal.public_sign,
            sealed_private_keys=seal.sealed,
            created_at=now,
        )

    async def new_person_row(self, pid: str, name: str, kind: str, now: int) -> models.PersonRow:
        """A person row under a fresh subject with fresh sealed keys (not yet stored)."""
        subject = "p_" + secrets.token_urlsafe(16)
        seal = await self._new_keys("person", subject)
        return models.PersonRow(
            subject=subject,
            pid_hmac=self.pid_hmac(pid),
            name=name,
            kind=kind,
            admin=False,
            hpke_public=seal.public_hpke,
            sign_public=seal.public_sign,
            sealed_private_keys=seal.sealed,
            created_at=now,
            updated_at=now,
        )

    async def ensure_service_unit(self, service_id: str, name: str) -> None:
        """Create the unit with fresh keys unless it exists; safe to run concurrently."""
        async with self._sessionmaker() as db:
            if await models.get_service_unit(db, service_id) is not None:
                return
            db.add(await self.new_service_unit_row(service_id, name, int(time.time())))
            try:
                await db.commit()
            except IntegrityError:  # another process created it at the same moment
                await db.rollback()

    async def ensure_staff_member(
        self, pid: str, name: str, service_ids: Sequence[str], *, admin: bool = False
    ) -> None:
        """Register a staff member for service units unless the pid is already known."""
        async with self._sessionmaker() as db:
            if await models.find_person_by_pid_hmac(db, self.pid_hmac(pid)) is not None:
                return
            now = int(time.time())
            person = await self.new_person_row(pid, name, "staff", now)
            person.admin = admin
            db.add(person)
            try:
                await db.flush()
                await models.set_staff_memberships(db, person.subject, service_ids, now)
                await db.commit()
            except IntegrityError:  # another process seeded the same person at once
                await db.rollback()

    async def seed_local_directory(self) -> None:
        """The synthetic service units and staff of local mode; idempotent."""
        for unit in SYNTHETIC_SERVICE_UNITS:
            await self.ensure_service_unit(unit.id, unit.name)
        for person in SYNTHETIC_PERSONS:
            if person.kind == "staff" and (person.service_id is not None or person.admin):
                service_ids = [person.service_id] if person.service_id is not None else []
                await self.ensure_staff_member(
                    person.pid, person.name, service_ids, admin=person.admin
                )

    async def _create_person(self, pid: str, name: str, kind: str) -> models.PersonRow:
        pid_hmac = self.pid_hmac(pid)
        async with self._sessionmaker() as db:
            existing = await models.find_person_by_pid_hmac(db, pid_hmac)
            if existing is not None:
                return existing
            person = await self.new_person_row(pid, name, kind, int(time.time()))
            db.add(person)
            try:
                await db.commit()
            except IntegrityError:
                await db.rollback()
            else:
                return person
        async with self._sessionmaker() as db:  # lost a race: the other insert won
            winner = await models.find_person_by_pid_hmac(db, pid_hmac)
            if winner is None:  # pragma: no cover - the unique constraint says it exists
                raise RuntimeError("person vanished after a conflicting insert")
            return winner

    async def person_for_login(
        self, pid: str, name: str | None, kind: Literal["guardian", "staff"]
    ) -> tuple[models.PersonRow, models.ServiceUnitRow | None]:
        """The person behind a verified login, and (for staff) the service unit they act for.

        A guardian logging in for the first time is created; the name the identity provider
        gives replaces a placeholder. A staff login is refused with NotInStaffDirectoryError
        unless the pid belongs to an active staff member who works for an active service unit
        (or is an administrator, who may log in without one). A staff member of exactly one
        active unit acts for it; one of several acts for none until they choose
        (`unit_to_act_for`), so no one acts for a unit they did not pick.
        """
        if kind == "staff":
            async with self._sessionmaker() as db:
                person = await models.find_person_by_pid_hmac(db, self.pid_hmac(pid))
                if person is None or person.kind != "staff" or person.deactivated_at is not None:
                    raise NotInStaffDirectoryError
                units = await models.active_service_units_of(db, person.subject)
            if len(units) == 1:
                return person, units[0]
            if units or is_acting_admin(person, "staff"):
                return person, None
            raise NotInStaffDirectoryError
        person = await self._create_person(pid, name or UNKNOWN_GUARDIAN_NAME, "guardian")
        if name and person.name != name:
            async with self._sessionmaker() as db:
                stored = await models.get_person(db, person.subject)
                if stored is not None:
                    stored.name = name[:200]
                    stored.updated_at = int(time.time())
                    await db.commit()
                    person = stored
        return person, None

    async def lookup_guardian(self, pid: str) -> models.PersonRow:
        """The person with this fødselsnummer, created (with fresh sealed keys) if unknown."""
        return await self._create_person(pid, UNKNOWN_GUARDIAN_NAME, "guardian")

    async def service_units(self) -> list[ServiceUnitView]:
        """The active service units (a deactivated unit can no longer be added to a log)."""
        async with self._sessionmaker() as db:
            rows = await models.list_service_units(db)
        return [
            ServiceUnitView(r.id, r.name, r.hpke_public, r.sign_public)
            for r in rows
            if r.deactivated_at is None
        ]

    async def service_unit(self, service_id: str) -> models.ServiceUnitRow | None:
        async with self._sessionmaker() as db:
            return await models.get_service_unit(db, service_id)

    async def units_to_act_for(self, subject: str) -> list[models.ServiceUnitRow]:
        """The active service units an active staff member works for, oldest membership first;
        empty for a guardian, a deactivated person, or an administrator without units."""
        async with self._sessionmaker() as db:
            return list(await models.active_service_units_of(db, subject))

    async def unit_to_act_for(self, subject: str, service_id: str) -> models.ServiceUnitRow | None:
        """The unit, if the person is an active staff member of it and it is active; else None.
        Read afresh from the directory each time: a membership removed or a unit deactivated
        a moment ago counts."""
        units = await self.units_to_act_for(subject)
        return next((unit for unit in units if unit.id == service_id), None)

    async def person(self, subject: str) -> models.PersonRow | None:
        async with self._sessionmaker() as db:
            return await models.get_person(db, subject)

    async def principal(self, kind: str, principal_id: str) -> PrincipalView | None:
        if kind == "person":
            person = await self.person(principal_id)
            if person is None:
                return None
            return PrincipalView(
                "person", person.subject, person.name, person.hpke_public, person.sign_public
            )
        if kind == "service":
            unit = await self.service_unit(principal_id)
            if unit is None:
                return None
            return PrincipalView("service", unit.id, unit.name, unit.hpke_public, unit.sign_public)
        return None


Directory = NamedDependency[DirectoryService]


class DirectoryController(Controller):
    """Directory lookups for the portal, with a bearer token of audience stafett-auth."""

    path = "/directory"

    @get("/services")
    async def list_services(self, directory: Directory, caller: Caller) -> list[ServiceUnitView]:
        return await directory.service_units()

    @post("/persons/lookup", status_code=200, guards=[json_body_guard])
    async def lookup_person(
        self, data: JSONBody[PersonLookup], directory: Directory, caller: Caller
    ) -> PersonView:
        if caller.role != "staff":
            raise PermissionDeniedException("only staff may look up a person by fødselsnummer")
        if not is_valid_fodselsnummer(data.pid):
            raise ProblemError(
                400,
                "invalid-fodselsnummer",
                "Not a valid fødselsnummer",
                "pid must be 11 digits with valid check digits",
            )
        person = await directory.lookup_guardian(data.pid)
        return PersonView(person.subject, person.name, person.hpke_public, person.sign_public)

    @get("/principals/{kind:str}/{principal_id:str}")
    async def get_principal(
        self,
        directory: Directory,
        caller: Caller,
        kind: Annotated[str, Parameter(pattern=r"^(person|service)$")],
        principal_id: Annotated[str, Parameter(max_length=64)],
    ) -> PrincipalView:
        principal = await directory.principal(kind, principal_id)
        if principal is None:
            raise NotFoundException(f"no {kind} with this id")
        return principal
