"""A person's own notification choice: GET and PUT /notifications/preferences, with a bearer
token (audience stafett-auth) for that person. Anyone logged in (guardian, young person, staff)
sets only their own; the address is checked here (services.auth.notifications.addresses)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody

from services.auth.directory import Directory
from services.auth.notifications.addresses import MAX_ADDRESS_LENGTH, normalize_address
from services.auth.notifications.store import NotificationStore, Preferences
from services.auth.tokens import Caller
from shared.json_bodies import json_body_guard
from shared.problems import ProblemError

__all__ = ["NotificationPreferencesController", "PreferencesUpdate", "PreferencesView"]

Notifications = NamedDependency[NotificationStore]
Language = Literal["nb", "nn", "en"]


class PreferencesView(msgspec.Struct, frozen=True):
    email: str | None
    enabled: bool
    language: str


class PreferencesUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`email` null (or empty) removes the address: no e-mail is sent then."""

    email: Annotated[str, msgspec.Meta(max_length=MAX_ADDRESS_LENGTH + 64)] | None
    enabled: bool
    language: Language = "nb"


class NotificationPreferencesController(Controller):
    path = "/notifications/preferences"

    @get("/")
    async def read(
        self, caller: Caller, notifications: Notifications, directory: Directory
    ) -> PreferencesView:
        await _person(caller.sub, directory)
        found = await notifications.preferences(caller.sub)
        return PreferencesView(found.email, found.enabled, found.language)

    @put("/", guards=[json_body_guard])
    async def update(
        self,
        caller: Caller,
        notifications: Notifications,
        directory: Directory,
        data: JSONBody[PreferencesUpdate],
    ) -> PreferencesView:
        await _person(caller.sub, directory)
        email = None
        if data.email is not None and data.email.strip():
            email = normalize_address(data.email)
            if email is None:
                raise ProblemError(
                    400,
                    "invalid-email",
                    "Not an e-mail address this service sends to",
                    "email must look like name@example.no",
                )
        stored = Preferences(email=email, enabled=data.enabled, language=data.language)
        await notifications.set_preferences(caller.sub, stored)
        return PreferencesView(stored.email, stored.enabled, stored.language)


async def _person(subject: str, directory: Directory) -> None:
    if await directory.person(subject) is None:
        raise NotFoundException("no such person")
