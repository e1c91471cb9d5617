"""The person a request is for: read from auth's session, with their private keys, for the
length of one request. Nothing here is stored or cached."""

from __future__ import annotations

import binascii
import logging
from dataclasses import dataclass, field

from services.portal.auth_client import (
    AuthClient,
    AuthUnavailableError,
    ServiceRef,
    SessionExpiredError,
)
from shared.crypto.keys import ParticipantKeys

__all__ = ["NotLoggedInError", "Viewer", "load_viewer"]

_log = logging.getLogger("stafett.portal.viewer")


class NotLoggedInError(Exception):
    """The request carries no session auth knows: the person must log in."""


@dataclass(frozen=True, slots=True)
class Viewer:
    session_cookie: str = field(repr=False)
    subject: str
    role: str  # "guardian" | "staff"
    name: str
    service: ServiceRef | None
    keys: ParticipantKeys = field(repr=False)
    service_keys: ParticipantKeys | None = field(repr=False)
    is_admin: bool = False  # a municipal administrator; auth checks it again on every admin call
    services: tuple[ServiceRef, ...] = ()  # the units a staff member may act for

    @property
    def chooses_service(self) -> bool:
        """Staff of several units, who choose which one they act for."""
        return self.is_staff and len(self.services) > 1

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    @property
    def service_id(self) -> str | None:
        return self.service.id if self.service is not None else None


async def load_viewer(auth: AuthClient, session_cookie: str | None) -> Viewer | None:
    """The logged-in person, or None when there is no session or auth no longer knows it.
    Raises AuthUnavailableError when auth cannot answer."""
    if not session_cookie or len(session_cookie) > 4096:
        return None
    try:
        context = await auth.session_context(session_cookie)
    except SessionExpiredError:
        return None
    try:
        keys = ParticipantKeys.from_bytes(context.keys)
        service_keys = (
            ParticipantKeys.from_bytes(context.service_keys)
            if context.service_keys is not None
            else None
        )
    except (ValueError, binascii.Error):
        _log.error("auth sent participant keys the portal cannot read")
        raise AuthUnavailableError from None
    return Viewer(
        session_cookie=session_cookie,
        subject=context.subject,
        role=context.role,
        name=context.name,
        service=context.service,
        keys=keys,
        service_keys=service_keys,
        is_admin=context.admin and context.role == "staff",
        services=tuple(context.services),
    )
