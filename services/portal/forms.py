"""What a person can send in the portal's forms, checked, with a Norwegian message per field.

Every check keeps what the person typed (`values`), so a form shown again loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from services.portal.norwegian import OSLO
from shared.wire import ENTRY_TYPES

__all__ = [
    "MAX_CHILD_NAME",
    "MAX_TEXT",
    "MAX_TITLE",
    "FormState",
    "check_entry_form",
    "check_guardian_form",
    "check_new_stafettlogg_form",
    "check_service_form",
]

MAX_CHILD_NAME = 200
MAX_TITLE = 200
MAX_TEXT = 10_000
_OLDEST_BIRTH_DATE = date(1900, 1, 1)
_PID = re.compile(r"^[0-9]{11}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class FormState:
    """What was typed, and what is wrong with it (field name → Norwegian message)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _field(form: Mapping[str, object], name: str, *, one_line: bool = True) -> str:
    raw = form.get(name, "")
    if not isinstance(raw, str):
        return ""
    value = raw.replace("\r\n", "\n").replace("\r", "\n")
    if one_line:
        value = value.replace("\n", " ").strip()
    return _CONTROL.sub("", value)


def check_new_stafettlogg_form(
    form: Mapping[str, object], *, today: date | None = None
) -> FormState:
    state = FormState(
        values={
            "child_name": _field(form, "child_name"),
            "child_birth_date": _field(form, "child_birth_date"),
            "title": _field(form, "title"),
        }
    )
    child_name = state.values["child_name"]
    if not child_name:
        state.errors["child_name"] = "Skriv barnets navn."
    elif len(child_name) > MAX_CHILD_NAME:
        state.errors["child_name"] = f"Navnet kan være høyst {MAX_CHILD_NAME} tegn."
    birth_date = state.values["child_birth_date"]
    if not birth_date:
        state.errors["child_birth_date"] = "Skriv barnets fødselsdato."
    else:
        try:
            parsed = date.fromisoformat(birth_date) if len(birth_date) == 10 else None
        except ValueError:
            parsed = None
        today = today or datetime.now(OSLO).date()
        if parsed is None:
            state.errors["child_birth_date"] = (
                "Skriv fødselsdatoen som år-måned-dag, for eksempel 2016-05-03."
            )
        elif parsed > today:
            state.errors["child_birth_date"] = "Fødselsdatoen kan ikke være fram i tid."
        elif parsed < _OLDEST_BIRTH_DATE:
            state.errors["child_birth_date"] = "Sjekk årstallet i fødselsdatoen."
    title = state.values["title"]
    if not title:
        state.errors["title"] = "Skriv kort hva bekymringen gjelder."
    elif len(title) > MAX_TITLE:
        state.errors["title"] = f"Skriv høyst {MAX_TITLE} tegn her."
    return state


def check_entry_form(form: Mapping[str, object]) -> FormState:
    state = FormState(
        values={
            "entry_type": _field(form, "entry_type"),
            "text": _field(form, "text", one_line=False).strip(),
        }
    )
    if state.values["entry_type"] not in ENTRY_TYPES:
        state.errors["entry_type"] = "Velg hva slags oppføring dette er."
    text = state.values["text"]
    if not text:
        state.errors["text"] = "Skriv noe i oppføringen før du lagrer."
    elif len(text) > MAX_TEXT:
        state.errors["text"] = (
            f"Teksten er {len(text)} tegn. Den kan være høyst {MAX_TEXT:,} tegn.".replace(",", " ")
        )
    return state


def check_guardian_form(form: Mapping[str, object]) -> FormState:
    typed = _field(form, "pid")
    state = FormState(values={"pid": typed})
    digits = typed.replace(" ", "")
    if not digits:
        state.errors["pid"] = "Skriv fødselsnummeret til den foresatte."
    elif not _PID.fullmatch(digits):
        state.errors["pid"] = "Et fødselsnummer har 11 siffer. Sjekk at du har skrevet det riktig."
    return state


def check_service_form(form: Mapping[str, object], service_ids: set[str]) -> FormState:
    state = FormState(values={"service_id": _field(form, "service_id")})
    if state.values["service_id"] not in service_ids:
        state.errors["service_id"] = "Velg en tjeneste fra listen."
    return state
