"""The words and date formats the portal shows: bokmål messages, marked for the catalogues
(`N_`), and dates that are put into the person's language when a page is rendered."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.portal.i18n import N_, ShownDate, ShownDateTime

__all__ = [
    "ENTRY_FORM_LABELS",
    "ENTRY_TYPE_LABELS",
    "LEVEL_EXPLANATIONS",
    "MEASURE_STATUS_LABELS",
    "OSLO",
    "OUTCOME_LABELS",
    "ROLE_LABELS",
    "TIMELINE_TYPE_LABELS",
    "format_date",
    "format_datetime",
]

OSLO = ZoneInfo("Europe/Oslo")

ENTRY_TYPE_LABELS: dict[str, str] = {
    "concern": N_("Bekymring"),
    "observation": N_("Observasjon"),
    "goal": N_("Mål"),
    "measure": N_("Tiltak"),
    "evaluation": N_("Evaluering"),
    "meeting": N_("Møte"),
    "minutes": N_("Referat"),
    "message": N_("Melding"),
    "handover": N_("Overføring"),
    "closing_note": N_("Avslutningsnotat"),
    "correction": N_("Rettelse"),
    "meeting_response": N_("Svar på møteinnkalling"),  # written by the answer buttons, not the form
}

# What the timeline calls entries that are not written through the entry form.
TIMELINE_TYPE_LABELS: dict[str, str] = {**ENTRY_TYPE_LABELS, "level_change": N_("Nivåendring")}

MEASURE_STATUS_LABELS: dict[str, str] = {
    "planned": N_("planlagt"),
    "active": N_("pågår"),
    "done": N_("avsluttet"),
    "stopped": N_("avbrutt"),
}

OUTCOME_LABELS: dict[str, str] = {
    "continue": N_("Fortsette tiltaket"),
    "change": N_("Endre tiltaket"),
    "end": N_("Avslutte tiltaket"),
}

# The choices the entry form offers, by field name.
ENTRY_FORM_LABELS: dict[str, dict[str, str]] = {
    "measure_status": MEASURE_STATUS_LABELS,
    "outcome": OUTCOME_LABELS,
}

# One plain line per BTI level (DESIGN.md, ../shared/domain/tverrfaglig-samarbeid-bti.txt).
LEVEL_EXPLANATIONS: dict[int, str] = {
    0: N_("Vi avklarer om bekymringen har grunnlag."),
    1: N_("Én tjeneste setter i gang tiltak selv, sammen med familien."),
    2: N_("To tjenester samarbeider tett med familien."),
    3: N_("Flere tjenester samarbeider bredt med familien."),
}

ROLE_LABELS: dict[str, str] = {
    "coordinator": N_("stafettholder"),
    "writer": N_("skriver"),
    "reader": N_("leser"),
}


def format_date(value: date | str) -> str:
    """3. mai 2016 (in the person's language when shown). A string that is not an ISO date is
    returned as it is."""
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return value
        return format_date(parsed)
    if isinstance(value, datetime):
        value = value.date()
    return ShownDate(value)


def format_datetime(value: datetime | str, *, weekday: bool = False) -> str:
    """22. november 2026 kl. 10:15, in Norwegian time (in the person's language when shown);
    with `weekday`, «søndag 22. november 2026 kl. 10:15». A string that is not an ISO moment is
    returned as it is."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return format_datetime(parsed, weekday=weekday)
    return ShownDateTime(value, weekday=weekday)
