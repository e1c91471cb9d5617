"""Whether the young person themself can be added to a stafettlogg, and from when.

From the municipality's age (15 or 16, auth's `GET /municipality/settings`) a young person may
take part in their own log and consent themself. logg cannot check the age: the child's birth
date is sealed in the log's description, which only the portal opens. So the portal checks it,
against the setting as it is at the time of the request, and refuses when the setting cannot be
read (fail closed). logg records which coordinator declared the age limit met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from services.portal.auth_client import AuthClient, AuthRefusedError, AuthUnavailableError
from services.portal.i18n import N_
from services.portal.norwegian import format_date
from services.portal.sealing import Description
from shared.wire import ParticipantView

__all__ = [
    "YOUTH_CONSENT_AGES",
    "YOUTH_LABEL",
    "YouthPanel",
    "birth_date_in_pid",
    "build_youth_panel",
    "day_of_age",
    "youth_consent_age",
    "youth_panel",
]

YOUTH_CONSENT_AGES = (15, 16)
YOUTH_LABEL = N_("ungdommen")  # in the participant list: after the name

YouthState = Literal["addable", "too-young", "present", "setting-unknown", "no-birth-date"]


def day_of_age(birth: date, years: int) -> date:
    """The day someone born on `birth` turns `years` old. One born on 29 February turns a year
    older on 1 March in a year that is not a leap year."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return date(birth.year + years, 3, 1)


def _century(year: int, individual: int) -> int | None:
    """The century of a fødselsnummer's two-digit year, from its individual number (digits 7-9),
    as the Folkeregister assigns them; None for a combination that is never assigned."""
    if individual <= 499:
        return 1900
    if individual <= 749 and year >= 54:
        return 1800
    if year <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def birth_date_in_pid(pid: str) -> date | None:
    """The birth date in a fødselsnummer's first six digits (DDMMYY), the century from its
    individual number. A D-number adds 4 to the first digit (40 to the day); an H-number and NAV's
    synthetic numbers add 40 to the month, Skatteetaten's synthetic test numbers 80. None when
    `pid` is not 11 digits or they make no date. The control digits are auth's to check."""
    if len(pid) != 11 or not pid.isascii() or not pid.isdigit():
        return None
    day, month, year, individual = int(pid[0:2]), int(pid[2:4]), int(pid[4:6]), int(pid[6:9])
    if day > 40:
        day -= 40
    if month > 80:
        month -= 80
    elif month > 40:
        month -= 40
    century = _century(year, individual)
    if century is None:
        return None
    try:
        return date(century + year, month, day)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class YouthPanel:
    """What the coordinator of an open log sees about adding the young person."""

    state: YouthState
    age: int | None = None  # the municipality's age, when it could be read
    birth_date: date | None = None  # the child's, from the log's description
    from_day: date | None = None  # the day the child reaches `age`

    @property
    def addable(self) -> bool:
        return self.state == "addable"

    @property
    def message(self) -> str | None:
        """Why the form is not shown, in a plain sentence; None when it is (or a youth takes
        part: the participant list says so)."""
        if self.state == "too-young" and self.from_day is not None:
            return N_(
                "Ungdommen kan legges til fra hen fyller %(age)s år (%(day)s).",
                age=self.age,
                day=format_date(self.from_day),
            )
        if self.state == "setting-unknown":
            return N_(
                "Kommunens aldersgrense for ungdommens eget samtykke kunne ikke leses, "
                "så ungdommen kan ikke legges til nå. Prøv igjen senere."
            )
        if self.state == "no-birth-date":
            return N_("Barnets fødselsdato kunne ikke leses, så ungdommen kan ikke legges til.")
        return None


def build_youth_panel(
    description: Description | None,
    participants: Sequence[ParticipantView],
    age: int | None,
    today: date,
) -> YouthPanel:
    """Whether the young person can be added today: a youth does not take part yet, the child's
    birth date is known, the municipality's age is known (15 or 16) and reached."""
    if any(p.youth for p in participants):
        return YouthPanel("present")
    birth = _birth_date(description)
    if birth is None:
        return YouthPanel("no-birth-date")
    if age not in YOUTH_CONSENT_AGES:
        return YouthPanel("setting-unknown", birth_date=birth)
    assert age is not None
    from_day = day_of_age(birth, age)
    state: YouthState = "addable" if today >= from_day else "too-young"
    return YouthPanel(state, age, birth, from_day)


def _birth_date(description: Description | None) -> date | None:
    if description is None:
        return None
    try:
        return date.fromisoformat(description.child_birth_date)
    except ValueError:
        return None


async def youth_consent_age(auth: AuthClient, session_cookie: str) -> int | None:
    """The municipality's age for the young person's own part, as auth says now; None when auth
    cannot say or says something other than 15 or 16, so that the caller refuses."""
    try:
        settings = await auth.municipal_settings(session_cookie)
    except (AuthUnavailableError, AuthRefusedError):
        return None
    return settings.youth_consent_age if settings.youth_consent_age in YOUTH_CONSENT_AGES else None


async def youth_panel(
    auth: AuthClient,
    session_cookie: str,
    description: Description | None,
    participants: Sequence[ParticipantView],
    today: date,
) -> YouthPanel:
    """`build_youth_panel` with the setting read from auth, only when it matters."""
    if any(p.youth for p in participants) or _birth_date(description) is None:
        return build_youth_panel(description, participants, None, today)
    age = await youth_consent_age(auth, session_cookie)
    return build_youth_panel(description, participants, age, today)
