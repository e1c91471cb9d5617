"""The rules for keeping the staff directory: who may, what is valid, and a record of every change.

Every change runs in one transaction together with its audit record, so a change is never stored
without the record of who made it. No fødselsnummer is stored (only its HMAC), logged or put in the
audit trail.

Sessions that a change makes wrong (a deactivated person or unit, changed memberships) are ended
through the `SessionStore`, whichever backend holds them (SQL or Redis), after the change is
committed: a login racing the change then either sees the new facts or has its session ended.
Ending is repeated on every deactivation request, so retrying after a failed ending completes it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import models
from services.auth.directory import DirectoryService, is_acting_admin, is_valid_fodselsnummer
from services.auth.directory_admin.csv_import import CsvRejectedError, StaffRecord
from services.auth.directory_admin.schemas import (
    MAX_PERSON_NAME,
    MAX_SERVICE_NAME,
    AdminServiceUnit,
    AuditRecord,
    ImportLineError,
    ImportResult,
    NewServiceUnit,
    NewStaffMember,
    StaffMember,
    StaffUpdate,
)
from services.auth.notifications.addresses import normalize_address
from services.auth.notifications.store import addresses_by_subject, set_address
from services.auth.sessions import SessionStore
from shared.problems import ProblemError
from shared.tokens import ServiceClaims

__all__ = ["Administrator", "DirectoryAdmin", "DirectoryAdminService"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Administrator:
    """A caller whose token says admin and whom the directory still knows as an active admin."""

    subject: str


def _clean_name(value: str, limit: int) -> str:
    name = " ".join(value.split())
    if not name or len(name) > limit or _CONTROL.search(name):
        raise ProblemError(
            400,
            "invalid-name",
            "The name is not valid",
            f"name must be 1-{limit} characters without control characters",
        )
    return name


def _checked_email(raw: str | None) -> str | None:
    """A staff member's notification address as stored, None for none ("" or null); 400 for
    anything that is not an address (services.auth.notifications.addresses)."""
    if raw is None or not raw.strip():
        return None
    email = normalize_address(raw)
    if email is None:
        raise ProblemError(
            400,
            "invalid-email",
            "Not an e-mail address this service sends to",
            "email must look like name@example.no",
        )
    return email


def _detail(**values: Any) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


class DirectoryAdminService:
    """Service units and staff as municipal administrators keep them."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        directory: DirectoryService,
        sessions: SessionStore,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._directory = directory
        self._sessions = sessions

    async def administrator(self, claims: ServiceClaims) -> Administrator:
        """The caller as an administrator, or PermissionDeniedException. Both the token's
        `admin` claim and the directory must say so (fail closed if either does not)."""
        if claims.role != "staff" or not claims.admin:
            raise PermissionDeniedException("only municipal administrators may do this")
        async with self._sessionmaker() as db:
            person = await models.get_person(db, claims.sub)
        if person is None or not is_acting_admin(person, "staff"):
            raise PermissionDeniedException("only municipal administrators may do this")
        return Administrator(claims.sub)

    # -- service units -------------------------------------------------------------------------

    async def service_units(self) -> list[AdminServiceUnit]:
        async with self._sessionmaker() as db:
            units = await models.list_service_units(db)
            counts = await self._active_staff_counts(db)
        return [
            AdminServiceUnit(u.id, u.name, u.deactivated_at is None, counts.get(u.id, 0))
            for u in units
        ]

    async def _active_staff_counts(self, db: AsyncSession) -> dict[str, int]:
        persons = {p.subject: p for p in await models.list_persons_by_kind(db, "staff")}
        counts: dict[str, int] = {}
        for membership in await models.list_staff_memberships(db):
            person = persons.get(membership.person_subject)
            if person is not None and person.deactivated_at is None:
                counts[membership.service_id] = counts.get(membership.service_id, 0) + 1
        return counts

    async def add_service_unit(self, actor: Administrator, new: NewServiceUnit) -> AdminServiceUnit:
        """Create a unit with fresh participant keys sealed under the KEK; 409 if the id exists."""
        name = _clean_name(new.name, MAX_SERVICE_NAME)
        now = int(time.time())
        async with self._sessionmaker() as db:
            if await models.get_service_unit(db, new.id) is not None:
                raise ProblemError(409, "service-exists", "A service unit has this id already")
            db.add(await self._directory.new_service_unit_row(new.id, name, now))
            models.add_admin_audit(
                db,
                at=now,
                actor=actor.subject,
                action="service.add",
                target_kind="service",
                target_id=new.id,
                detail=_detail(name=name),
            )
            try:
                await db.commit()
            except IntegrityError:
                raise ProblemError(
                    409, "service-exists", "A service unit has this id already"
                ) from None
        return AdminServiceUnit(new.id, name, True, 0)

    async def rename_service_unit(
        self, actor: Administrator, service_id: str, new_name: str
    ) -> AdminServiceUnit:
        name = _clean_name(new_name, MAX_SERVICE_NAME)
        now = int(time.time())
        async with self._sessionmaker() as db:
            unit = await models.get_service_unit(db, service_id)
            if unit is None:
                raise NotFoundException("no service unit with this id")
            old_name, unit.name = unit.name, name
            models.add_admin_audit(
                db,
                at=now,
                actor=actor.subject,
                action="service.rename",
                target_kind="service",
                target_id=service_id,
                detail=_detail(old_name=old_name, name=name),
            )
            await db.commit()
            counts = await self._active_staff_counts(db)
        return AdminServiceUnit(unit.id, name, unit.deactivated_at is None, counts.get(unit.id, 0))

    async def deactivate_service_unit(
        self, actor: Administrator, service_id: str
    ) -> AdminServiceUnit:
        """Deactivate a unit: it can no longer be added to a log, no one logs in or switches to
        act for it, and sessions acting for it end (in SQL or Redis, after the commit; again on
        every call, so a retry finishes a failed ending). Its keys and existing log memberships
        are kept."""
        now = int(time.time())
        async with self._sessionmaker() as db:
            unit = await models.get_service_unit(db, service_id)
            if unit is None:
                raise NotFoundException("no service unit with this id")
            if unit.deactivated_at is None:
                unit.deactivated_at = now
                models.add_admin_audit(
                    db,
                    at=now,
                    actor=actor.subject,
                    action="service.deactivate",
                    target_kind="service",
                    target_id=service_id,
                    detail=_detail(),
                )
                await db.commit()
            counts = await self._active_staff_counts(db)
        await self._sessions.end_sessions_for_service(service_id)
        return AdminServiceUnit(unit.id, unit.name, False, counts.get(unit.id, 0))

    # -- staff ---------------------------------------------------------------------------------

    async def staff(self) -> list[StaffMember]:
        async with self._sessionmaker() as db:
            persons = await models.list_persons_by_kind(db, "staff")
            memberships = await models.list_staff_memberships(db)
            emails = await addresses_by_subject(db, [p.subject for p in persons])
        units: dict[str, list[str]] = {}
        for membership in memberships:
            units.setdefault(membership.person_subject, []).append(membership.service_id)
        return [_staff_view(p, units.get(p.subject, []), emails.get(p.subject)) for p in persons]

    async def _checked_service_ids(self, db: AsyncSession, service_ids: Sequence[str]) -> list[str]:
        unique = list(dict.fromkeys(service_ids))
        for service_id in unique:
            unit = await models.get_service_unit(db, service_id)
            if unit is None or unit.deactivated_at is not None:
                raise ProblemError(
                    400,
                    "unknown-service",
                    "Unknown service unit",
                    f"no active service unit has the id {service_id}",
                )
        return unique

    async def add_staff_member(self, actor: Administrator, new: NewStaffMember) -> StaffMember:
        """Register a staff member (or make a known guardian staff). 409 if already staff."""
        if not is_valid_fodselsnummer(new.pid):
            raise ProblemError(
                400,
                "invalid-fodselsnummer",
                "Not a valid fødselsnummer",
                "pid must be 11 digits with valid check digits",
            )
        name = _clean_name(new.name, MAX_PERSON_NAME)
        email = _checked_email(new.email)
        now = int(time.time())
        async with self._sessionmaker() as db:
            service_ids = await self._checked_service_ids(db, new.service_ids)
            if not service_ids and not new.admin:
                raise _needs_service()
            person = await models.find_person_by_pid_hmac(db, self._directory.pid_hmac(new.pid))
            if person is not None and person.kind == "staff":
                raise ProblemError(409, "staff-exists", "This person is registered as staff")
            if person is None:
                person = await self._directory.new_person_row(new.pid, name, "staff", now)
                db.add(person)
                action = "staff.add"
            else:  # a guardian who also works for the municipality
                person.kind, person.name, person.updated_at = "staff", name, now
                action = "staff.add_existing_person"
            person.admin = new.admin
            person.deactivated_at = None
            try:
                await db.flush()
                await models.set_staff_memberships(db, person.subject, service_ids, now)
                if email is not None:  # the address itself never goes into the audit trail
                    await set_address(db, person.subject, email)
                models.add_admin_audit(
                    db,
                    at=now,
                    actor=actor.subject,
                    action=action,
                    target_kind="person",
                    target_id=person.subject,
                    detail=_detail(
                        name=name,
                        service_ids=service_ids,
                        admin=new.admin,
                        email_set=email is not None,
                    ),
                )
                await db.commit()
            except IntegrityError:
                raise ProblemError(
                    409, "staff-exists", "This person was registered at the same moment"
                ) from None
        return _staff_view(person, service_ids, email)

    async def update_staff_member(
        self, actor: Administrator, subject: str, update: StaffUpdate
    ) -> StaffMember:
        """Change name, units, admin flag or active state. A change of units or of the active
        state ends the person's sessions (in SQL or Redis, after the commit), so the next login
        acts on the new facts; a deactivated person's sessions are ended on every call."""
        if subject == actor.subject and (update.admin is False or update.active is False):
            raise ProblemError(
                409,
                "own-admin-role",
                "You cannot remove your own administrator role or deactivate yourself",
            )
        now = int(time.time())
        async with self._sessionmaker() as db:
            person = await models.get_person(db, subject)
            if person is None or person.kind != "staff":
                raise NotFoundException("no staff member with this subject")
            service_ids = await models.staff_service_ids(db, subject)
            email = (await addresses_by_subject(db, [subject])).get(subject)
            changes: dict[str, Any] = {}
            end_sessions = False
            if update.email is not None:
                wanted_email = _checked_email(update.email)
                if wanted_email != email:
                    await set_address(db, subject, wanted_email)
                    email = wanted_email
                    changes["email_changed"] = True  # never the address itself
            if update.name is not None:
                name = _clean_name(update.name, MAX_PERSON_NAME)
                if name != person.name:
                    person.name = changes["name"] = name
            if update.service_ids is not None:
                wanted = await self._checked_service_ids(db, update.service_ids)
                if set(wanted) != set(service_ids):
                    await models.set_staff_memberships(db, subject, wanted, now)
                    service_ids = changes["service_ids"] = wanted
                    end_sessions = True
            if update.admin is not None and update.admin != person.admin:
                person.admin = changes["admin"] = update.admin
            if update.active is not None and update.active != (person.deactivated_at is None):
                person.deactivated_at = None if update.active else now
                changes["active"] = update.active
                end_sessions = True
            if not service_ids and not person.admin and person.deactivated_at is None:
                raise _needs_service()
            if changes:
                person.updated_at = now
                models.add_admin_audit(
                    db,
                    at=now,
                    actor=actor.subject,
                    action="staff.update",
                    target_kind="person",
                    target_id=subject,
                    detail=_detail(**changes),
                )
                await db.commit()
        if end_sessions or person.deactivated_at is not None:
            await self._sessions.end_sessions_of(subject)
        return _staff_view(person, service_ids, email)

    async def deactivate_staff_member(self, actor: Administrator, subject: str) -> StaffMember:
        """The person can no longer log in as staff; their sessions end at once."""
        return await self.update_staff_member(actor, subject, StaffUpdate(active=False))

    async def import_staff(
        self, actor: Administrator, records: Sequence[StaffRecord]
    ) -> ImportResult:
        """Create or update every staff member of a checked file, in one transaction: all of
        it is stored, or (on any conflict) nothing. Staff not in the file are left as they are.
        A person in the file who was deactivated is active again; their units become exactly
        those of the file."""
        own_hmac = await self._own_hmac(actor)
        own = next((r for r in records if self._directory.pid_hmac(r.pid) == own_hmac), None)
        if own is not None and not own.admin:
            raise CsvRejectedError(
                [ImportLineError(own.line, "du kan ikke fjerne din egen administratorrolle")]
            )
        now = int(time.time())
        counts = {"staff.import_add": 0, "staff.import_update": 0, "unchanged": 0}
        async with self._sessionmaker() as db:
            active_units = {
                u.id for u in await models.list_service_units(db) if u.deactivated_at is None
            }
            if any(s not in active_units for r in records for s in r.service_ids):
                raise ProblemError(409, "conflict", "A service unit changed during the import")
            by_hmac = {self._directory.pid_hmac(r.pid): r for r in records}
            existing = await models.find_persons_by_pid_hmacs(db, list(by_hmac))
            emails = await addresses_by_subject(db, [p.subject for p in existing.values()])
            current_units: dict[str, list[str]] = {}
            for membership in await models.list_staff_memberships(db):
                current_units.setdefault(membership.person_subject, []).append(
                    membership.service_id
                )
            fresh: list[tuple[models.PersonRow, StaffRecord]] = []
            updated_emails: list[tuple[models.PersonRow, StaffRecord]] = []
            sessions_to_end: list[str] = []
            try:
                for pid_hmac, record in by_hmac.items():
                    person = existing.get(pid_hmac)
                    if person is None:
                        person = await self._directory.new_person_row(
                            record.pid, record.name, "staff", now
                        )
                        person.admin = record.admin
                        db.add(person)
                        fresh.append((person, record))
                        action = "staff.import_add"
                    else:
                        before = current_units.get(person.subject, [])
                        new_email = record.email not in (None, emails.get(person.subject))
                        if _same(person, before, record) and not new_email:
                            counts["unchanged"] += 1
                            continue
                        if set(before) != set(record.service_ids) or person.deactivated_at:
                            sessions_to_end.append(person.subject)
                        person.kind, person.name, person.admin = "staff", record.name, record.admin
                        person.deactivated_at, person.updated_at = None, now
                        await models.set_staff_memberships(
                            db, person.subject, record.service_ids, now
                        )
                        if new_email:
                            updated_emails.append((person, record))
                        action = "staff.import_update"
                    counts[action] += 1
                    models.add_admin_audit(
                        db,
                        at=now,
                        actor=actor.subject,
                        action=action,
                        target_kind="person",
                        target_id=person.subject,
                        detail=_detail(
                            name=record.name, service_ids=record.service_ids, admin=record.admin
                        ),
                    )
                await db.flush()  # the new persons exist before their memberships
                for person, record in [*fresh, *updated_emails]:
                    if record.email is not None:
                        await set_address(db, person.subject, record.email)
                db.add_all(
                    models.StaffMembershipRow(
                        person_subject=person.subject, service_id=service_id, created_at=now
                    )
                    for person, record in fresh
                    for service_id in record.service_ids
                )
                models.add_admin_audit(
                    db,
                    at=now,
                    actor=actor.subject,
                    action="staff.import",
                    target_kind="import",
                    target_id="csv",
                    detail=_detail(**counts),
                )
                await db.commit()
            except IntegrityError:
                raise ProblemError(
                    409, "conflict", "The directory changed during the import; try again"
                ) from None
        for subject in sessions_to_end:
            await self._sessions.end_sessions_of(subject)
        return ImportResult(
            counts["staff.import_add"], counts["staff.import_update"], counts["unchanged"]
        )

    async def _own_hmac(self, actor: Administrator) -> str | None:
        async with self._sessionmaker() as db:
            person = await models.get_person(db, actor.subject)
        return person.pid_hmac if person is not None else None

    async def active_service_names(self) -> dict[str, str]:
        async with self._sessionmaker() as db:
            units = await models.list_service_units(db)
        return {u.id: u.name for u in units if u.deactivated_at is None}

    async def audit(self, limit: int) -> list[AuditRecord]:
        async with self._sessionmaker() as db:
            rows = await models.list_admin_audit(db, limit)
        return [
            AuditRecord(r.at, r.actor, r.action, r.target_kind, r.target_id, r.detail) for r in rows
        ]


def _needs_service() -> ProblemError:
    return ProblemError(
        400,
        "service-required",
        "A staff member needs a service unit",
        "give at least one service unit, unless the person is an administrator",
    )


def _same(person: models.PersonRow, service_ids: Sequence[str], record: StaffRecord) -> bool:
    return (
        person.kind == "staff"
        and person.name == record.name
        and bool(person.admin) == record.admin
        and person.deactivated_at is None
        and set(service_ids) == set(record.service_ids)
    )


def _staff_view(
    person: models.PersonRow, service_ids: Sequence[str], email: str | None = None
) -> StaffMember:
    return StaffMember(
        person.subject,
        person.name,
        list(service_ids),
        bool(person.admin),
        person.deactivated_at is None,
        email,
    )


DirectoryAdmin = NamedDependency[DirectoryAdminService]
