"""The synthetic people and service units of local runs and tests.

The fødselsnummer are synthetic (month + 80, as Norwegian test data does) and pass the mod-11
check. Their child, Emma Nordmann (born 2016-05-03), is not a login person. Nora Nordmann (born
2009-09-14) is a young person old enough to take part in her own log and consent herself; she logs
in through ID-porten like a guardian. Anne Admin is the municipal administrator: staff, no service
unit of her own, keeps the staff directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SYNTHETIC_PERSONS",
    "SYNTHETIC_SERVICE_UNITS",
    "SyntheticPerson",
    "SyntheticServiceUnit",
    "synthetic_person",
]


@dataclass(frozen=True, slots=True)
class SyntheticServiceUnit:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class SyntheticPerson:
    pid: str
    given_name: str
    family_name: str
    kind: Literal["guardian", "staff"]
    service_id: str | None = None
    title: str | None = None
    admin: bool = False  # a municipal administrator (staff only)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


SYNTHETIC_SERVICE_UNITS: tuple[SyntheticServiceUnit, ...] = (
    SyntheticServiceUnit("helsestasjon-sentrum", "Helsestasjonen i Sentrum"),
    SyntheticServiceUnit("sentrum-skole", "Sentrum skole"),
)

SYNTHETIC_PERSONS: tuple[SyntheticPerson, ...] = (
    SyntheticPerson("12838510068", "Kari", "Nordmann", "guardian"),
    SyntheticPerson("05878220074", "Ola", "Nordmann", "guardian"),
    SyntheticPerson("14890950095", "Nora", "Nordmann", "guardian", title="ungdom, født 2009"),
    SyntheticPerson(
        "23907930017", "Siri", "Stafett", "staff", "helsestasjon-sentrum", "stafettholder"
    ),
    SyntheticPerson("17088840089", "Lars", "Lærer", "staff", "sentrum-skole", "lærer"),
    SyntheticPerson("30918420041", "Anne", "Admin", "staff", None, "administrator", admin=True),
)


def synthetic_person(pid: str) -> SyntheticPerson | None:
    return next((person for person in SYNTHETIC_PERSONS if person.pid == pid), None)
