"""What a person can send in the portal's forms, checked, with a Norwegian message per field.

Every check keeps what the person typed (`values`), so a form shown again loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from services.portal.i18n import N_
from services.portal.norwegian import OSLO
from shared.wire import ENTRY_TYPES

__all__ = [
    "FORM_ENTRY_TYPES",
    "MAX_CHILD_NAME",
    "MAX_SHORT",
    "MAX_TEXT",
    "MAX_TITLE",
    "EntryChoices",
    "FormState",
    "check_closing_form",
    "check_entry_form",
    "check_guardian_form",
    "check_handover_form",
    "check_level_form",
    "check_new_stafettlogg_form",
    "check_service_form",
    "parse_date",
    "parse_local_datetime",
]

MAX_CHILD_NAME = 200
MAX_TITLE = 200
MAX_TEXT = 10_000
_MAX_TEXT_SHOWN = f"{MAX_TEXT:,}".replace(",", " ")  # 10 000
_OLDEST_BIRTH_DATE = date(1900, 1, 1)
_PID = re.compile(r"^[0-9]{11}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class FormState:
    """What was typed, and what is wrong with it (field name → Norwegian message)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)  # checkboxes: every value ticked

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
        state.errors["child_name"] = N_("Skriv barnets navn.")
    elif len(child_name) > MAX_CHILD_NAME:
        state.errors["child_name"] = N_(
            "Navnet kan være høyst %(max_child_name)s tegn.", max_child_name=MAX_CHILD_NAME
        )
    birth_date = state.values["child_birth_date"]
    if not birth_date:
        state.errors["child_birth_date"] = N_("Skriv barnets fødselsdato.")
    else:
        try:
            parsed = date.fromisoformat(birth_date) if len(birth_date) == 10 else None
        except ValueError:
            parsed = None
        today = today or datetime.now(OSLO).date()
        if parsed is None:
            state.errors["child_birth_date"] = N_(
                "Skriv fødselsdatoen som år-måned-dag, for eksempel 2016-05-03."
            )
        elif parsed > today:
            state.errors["child_birth_date"] = N_("Fødselsdatoen kan ikke være fram i tid.")
        elif parsed < _OLDEST_BIRTH_DATE:
            state.errors["child_birth_date"] = N_("Sjekk årstallet i fødselsdatoen.")
    title = state.values["title"]
    if not title:
        state.errors["title"] = N_("Skriv kort hva bekymringen gjelder.")
    elif len(title) > MAX_TITLE:
        state.errors["title"] = N_("Skriv høyst %(max_title)s tegn her.", max_title=MAX_TITLE)
    return state


@dataclass(frozen=True)
class EntryChoices:
    """What an entry may point at in this log, as the viewer can see it: the ids of its goals,
    measures and meetings, the entries the viewer may correct, and the participants (key →
    name) a meeting can invite. None in a check means: do not check membership."""

    goal_ids: frozenset[str] = frozenset()
    measure_ids: frozenset[str] = frozenset()
    meeting_ids: frozenset[str] = frozenset()
    correctable_ids: frozenset[str] = frozenset()
    participants: dict[str, str] = field(default_factory=dict)


_ENTRY_FIELDS = (
    "goal_id",
    "responsible",
    "start_on",
    "evaluate_on",
    "measure_status",
    "measure_id",
    "outcome",
    "starts_at",
    "place",
    "meeting_id",
    "corrects",
)
_ENTRY_LISTS = ("invited", "present")
# What the entry form writes: an answer to a meeting comes from its own buttons (meetings.py).
FORM_ENTRY_TYPES: tuple[str, ...] = tuple(t for t in ENTRY_TYPES if t != "meeting_response")
MAX_SHORT = 200
_MEASURE_STATUSES = ("planned", "active", "done", "stopped")
_OUTCOMES = ("continue", "change", "end")


def _list(form: Mapping[str, object], name: str) -> list[str]:
    getall = getattr(form, "getall", None)
    raw: object = getall(name, []) if callable(getall) else form.get(name, [])
    items = raw if isinstance(raw, list) else [raw]
    return [_CONTROL.sub("", item.strip()) for item in items if isinstance(item, str) and item]


def parse_date(value: str) -> date | None:
    """A `YYYY-MM-DD` date, or None."""
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def parse_local_datetime(value: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM` (what a datetime-local field sends; a space works too) in Norwegian
    time, or None."""
    text = value.replace(" ", "T", 1)
    if len(text) not in {16, 19}:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=OSLO) if parsed.tzinfo is None else None


def _check_text(state: FormState, entry_type: str) -> None:
    text = state.values["text"]
    if not text:
        state.errors["text"] = (
            N_("Skriv minst én sak på sakslisten.")
            if entry_type == "meeting"
            else N_("Skriv noe i oppføringen før du lagrer.")
        )
    elif len(text) > MAX_TEXT:
        state.errors["text"] = N_(
            "Teksten er %(length)s tegn. Den kan være høyst %(max)s tegn.",
            length=len(text),
            max=_MAX_TEXT_SHOWN,
        )


def _check_choice(
    state: FormState, name: str, allowed: frozenset[str] | None, message: str, *, required: bool
) -> None:
    value = state.values[name]
    if (not value and required) or (value and allowed is not None and value not in allowed):
        state.errors[name] = message


def _check_short(state: FormState, name: str, missing: str) -> None:
    value = state.values[name]
    if not value:
        state.errors[name] = missing
    elif len(value) > MAX_SHORT:
        state.errors[name] = N_("Skriv høyst %(max_short)s tegn her.", max_short=MAX_SHORT)


def _check_measure(state: FormState, choices: EntryChoices | None) -> None:
    goals = choices.goal_ids if choices is not None else None
    _check_choice(
        state, "goal_id", goals, N_("Velg målet tiltaket skal hjelpe på."), required=bool(goals)
    )
    _check_short(state, "responsible", N_("Skriv hvem som er ansvarlig for tiltaket."))
    start = parse_date(state.values["start_on"])
    if state.values["start_on"] and start is None:
        state.errors["start_on"] = N_(
            "Skriv startdatoen som år-måned-dag, for eksempel 2026-01-15."
        )
    evaluate = parse_date(state.values["evaluate_on"])
    if not state.values["evaluate_on"]:
        state.errors["evaluate_on"] = N_("Skriv når tiltaket skal evalueres.")
    elif evaluate is None:
        state.errors["evaluate_on"] = N_(
            "Skriv evalueringsdatoen som år-måned-dag, for eksempel 2026-03-01."
        )
    elif start is not None and evaluate < start:
        state.errors["evaluate_on"] = N_("Evalueringsdatoen kan ikke være før startdatoen.")
    if state.values["measure_status"] not in _MEASURE_STATUSES:
        state.errors["measure_status"] = N_("Velg status for tiltaket.")


def _check_people(state: FormState, name: str, choices: EntryChoices | None) -> None:
    if choices is not None and any(key not in choices.participants for key in state.lists[name]):
        state.errors[name] = N_("Velg deltakere fra listen.")


def _check_meeting(state: FormState, choices: EntryChoices | None) -> None:
    if not state.values["starts_at"]:
        state.errors["starts_at"] = N_("Skriv når møtet er.")
    elif parse_local_datetime(state.values["starts_at"]) is None:
        state.errors["starts_at"] = N_("Skriv tidspunktet som år-måned-dag og klokkeslett.")
    _check_short(state, "place", N_("Skriv hvor møtet er."))
    _check_people(state, "invited", choices)


def check_entry_form(form: Mapping[str, object], choices: EntryChoices | None = None) -> FormState:
    """Check an entry, validating only the fields of the chosen type (without JavaScript the
    form shows every type's fields). Everything typed is kept, whatever the type."""
    state = FormState(
        values={
            "entry_type": _field(form, "entry_type"),
            "text": _field(form, "text", one_line=False).strip(),
            "highlight": "ja" if _field(form, "highlight") else "",
            **{name: _field(form, name) for name in _ENTRY_FIELDS},
        },
        lists={name: _list(form, name) for name in _ENTRY_LISTS},
    )
    entry_type = state.values["entry_type"]
    if entry_type not in FORM_ENTRY_TYPES:
        state.errors["entry_type"] = N_("Velg hva slags oppføring dette er.")
    _check_text(state, entry_type)
    if entry_type == "measure":
        _check_measure(state, choices)
    elif entry_type == "evaluation":
        measures = choices.measure_ids if choices is not None else None
        _check_choice(
            state, "measure_id", measures, N_("Velg tiltaket som evalueres."), required=True
        )
        if state.values["outcome"] not in _OUTCOMES:
            state.errors["outcome"] = N_("Velg hva dere vil gjøre videre med tiltaket.")
    elif entry_type == "meeting":
        _check_meeting(state, choices)
    elif entry_type == "minutes":
        meetings = choices.meeting_ids if choices is not None else None
        _check_choice(state, "meeting_id", meetings, N_("Velg møtet fra listen."), required=False)
        _check_people(state, "present", choices)
    elif entry_type == "correction":
        own = choices.correctable_ids if choices is not None else None
        _check_choice(state, "corrects", own, N_("Velg oppføringen du retter opp."), required=True)
    return state


def _check_long_text(state: FormState, name: str, missing: str) -> None:
    value = state.values[name]
    if not value:
        state.errors[name] = missing
    elif len(value) > MAX_TEXT:
        state.errors[name] = N_("Teksten kan være høyst %(max)s tegn.", max=_MAX_TEXT_SHOWN)


def check_level_form(form: Mapping[str, object], current_level: int) -> FormState:
    state = FormState(
        values={
            "level": _field(form, "level"),
            "reason": _field(form, "reason", one_line=False).strip(),
        }
    )
    level = state.values["level"]
    if level not in {"0", "1", "2", "3"}:
        state.errors["level"] = N_("Velg nivå 0, 1, 2 eller 3.")
    elif int(level) == current_level:
        state.errors["level"] = N_(
            "Stafettloggen er allerede på nivå %(current_level)s.", current_level=current_level
        )
    _check_long_text(state, "reason", N_("Skriv hvorfor nivået endres."))
    return state


def check_handover_form(form: Mapping[str, object], candidates: set[str]) -> FormState:
    state = FormState(
        values={
            "to_subject": _field(form, "to_subject"),
            "handover_note": _field(form, "handover_note", one_line=False).strip(),
        }
    )
    if state.values["to_subject"] not in candidates:
        state.errors["to_subject"] = N_("Velg hvem som skal overta stafettpinnen.")
    if len(state.values["handover_note"]) > MAX_TEXT:
        state.errors["handover_note"] = N_(
            "Notatet kan være høyst %(max)s tegn.", max=_MAX_TEXT_SHOWN
        )
    return state


def check_closing_form(form: Mapping[str, object]) -> FormState:
    state = FormState(values={"closing_note": _field(form, "closing_note", one_line=False).strip()})
    _check_long_text(state, "closing_note", N_("Skriv et avslutningsnotat før du avslutter."))
    return state


def check_guardian_form(form: Mapping[str, object]) -> FormState:
    typed = _field(form, "pid")
    state = FormState(values={"pid": typed})
    digits = typed.replace(" ", "")
    if not digits:
        state.errors["pid"] = N_("Skriv fødselsnummeret til den foresatte.")
    elif not _PID.fullmatch(digits):
        state.errors["pid"] = N_(
            "Et fødselsnummer har 11 siffer. Sjekk at du har skrevet det riktig."
        )
    return state


def check_service_form(form: Mapping[str, object], service_ids: set[str]) -> FormState:
    state = FormState(values={"service_id": _field(form, "service_id")})
    if state.values["service_id"] not in service_ids:
        state.errors["service_id"] = N_("Velg en tjeneste fra listen.")
    return state
