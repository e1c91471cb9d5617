"""From a checked entry form to what is sealed, and what logg is told in clear.

`check_entry_form` (services.portal.forms) has validated the fields of the chosen type; this
module only shapes them into the plaintext object docs/crypto.md gives for the type, and repeats
the fields marked *clear* as `refers_to`/`due_on`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.portal.entry_bodies import (
    CorrectionBody,
    EntryBody,
    EvaluationBody,
    MeasureBody,
    MeetingBody,
    MinutesBody,
    ObservationBody,
    body_for_text,
)
from services.portal.forms import EntryChoices, FormState, parse_local_datetime
from services.portal.timeline import expected_clear

__all__ = ["EntryDraft", "draft_entry"]


@dataclass(frozen=True, slots=True)
class EntryDraft:
    entry_type: str
    body: EntryBody
    refers_to: str | None
    due_on: date | None


def _names(keys: list[str], choices: EntryChoices) -> list[str]:
    return [choices.participants[key] for key in keys if key in choices.participants]


def _body(form: FormState, choices: EntryChoices) -> EntryBody:
    values = form.values
    entry_type, text = values["entry_type"], values["text"]
    if entry_type == "observation":
        if values.get("highlight"):
            return ObservationBody(text=text, kind="highlight")
        return ObservationBody(text=text)
    if entry_type == "measure":
        return MeasureBody(
            text=text,
            goal_id=values["goal_id"] or None,
            responsible=values["responsible"],
            start_on=values["start_on"] or None,
            evaluate_on=values["evaluate_on"],
            status=values["measure_status"],  # type: ignore[arg-type]  # checked by the form
        )
    if entry_type == "evaluation":
        return EvaluationBody(
            text=text,
            measure_id=values["measure_id"],
            outcome=values["outcome"],  # type: ignore[arg-type]  # checked by the form
        )
    if entry_type == "meeting":
        starts_at = parse_local_datetime(values["starts_at"])
        if starts_at is None:
            raise ValueError("the form was not checked")
        return MeetingBody(
            starts_at=starts_at.isoformat(),
            place=values["place"],
            invited=_names(form.lists.get("invited", []), choices),
            agenda=[line.strip() for line in text.splitlines() if line.strip()],
            invited_keys=[k for k in form.lists.get("invited", []) if k in choices.participants],
        )
    if entry_type == "minutes":
        return MinutesBody(
            text=text,
            meeting_id=values["meeting_id"] or None,
            present=_names(form.lists.get("present", []), choices),
        )
    if entry_type == "correction":
        return CorrectionBody(text=text, corrects=values["corrects"])
    return body_for_text(entry_type, text)


def draft_entry(form: FormState, choices: EntryChoices) -> EntryDraft:
    """The entry a valid form describes. Raises ValueError for a form that was not checked."""
    if not form.ok:
        raise ValueError("the form has errors")
    body = _body(form, choices)
    refers_to, due_on = expected_clear(body)
    return EntryDraft(form.values["entry_type"], body, refers_to, due_on)
