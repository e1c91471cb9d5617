"""What crosses the wire in the administrators' directory API (msgspec, strict, bounded)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = [
    "MAX_PERSON_NAME",
    "MAX_SERVICE_NAME",
    "SERVICE_ID_PATTERN",
    "SUBJECT_PATTERN",
    "AdminServiceUnit",
    "AuditRecord",
    "ImportLineError",
    "ImportResult",
    "NewServiceUnit",
    "NewStaffMember",
    "ServiceUnitRename",
    "StaffMember",
    "StaffUpdate",
]

SERVICE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"  # a lowercase slug, ≤ 64
SUBJECT_PATTERN = r"^p_[A-Za-z0-9_-]{1,30}$"
MAX_SERVICE_NAME = 120
MAX_PERSON_NAME = 200
_MAX_SERVICES_PER_PERSON = 50

ServiceId = Annotated[str, msgspec.Meta(pattern=SERVICE_ID_PATTERN, max_length=64)]
ServiceName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SERVICE_NAME)]
PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PERSON_NAME)]
ServiceIds = Annotated[list[ServiceId], msgspec.Meta(max_length=_MAX_SERVICES_PER_PERSON)]
# A notification address (services.auth.notifications.addresses checks it); "" clears it.
StaffEmail = Annotated[str, msgspec.Meta(max_length=320)]


class NewServiceUnit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: ServiceId
    name: ServiceName


class ServiceUnitRename(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: ServiceName


class AdminServiceUnit(msgspec.Struct, frozen=True):
    id: str
    name: str
    active: bool
    staff_count: int  # active staff members who work for the unit


class NewStaffMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pid: Annotated[str, msgspec.Meta(max_length=32)]  # checked (mod 11), stored only as HMAC
    name: PersonName
    service_ids: ServiceIds = []
    admin: bool = False
    email: StaffEmail | None = None


class StaffUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fields left out (null) are not changed."""

    name: PersonName | None = None
    service_ids: ServiceIds | None = None
    admin: bool | None = None
    active: bool | None = None
    email: StaffEmail | None = None  # "" removes the address


class StaffMember(msgspec.Struct, frozen=True):
    """A staff member as administrators see them: never their fødselsnummer."""

    subject: str
    name: str
    service_ids: list[str]
    admin: bool
    active: bool
    email: str | None = None  # where notifications go (personal data: never logged)


class ImportResult(msgspec.Struct, frozen=True):
    created: int
    updated: int
    unchanged: int


class ImportLineError(msgspec.Struct, frozen=True):
    line: int  # 1 is the header row
    reason: str  # Norwegian, safe to show; never the fødselsnummer


class AuditRecord(msgspec.Struct, frozen=True):
    at: int
    actor: str
    action: str
    target_kind: str
    target_id: str
    detail: str
