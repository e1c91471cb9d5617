"""Norwegian (bokmål) words and date formats for what the portal shows."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

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

_MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)

ENTRY_TYPE_LABELS: dict[str, str] = {
    "concern": "Bekymring",
    "observation": "Observasjon",
    "goal": "Mål",
    "measure": "Tiltak",
    "evaluation": "Evaluering",
    "meeting": "Møte",
    "minutes": "Referat",
    "message": "Melding",
    "handover": "Overføring",
    "closing_note": "Avslutningsnotat",
    "correction": "Rettelse",
}

# What the timeline calls entries that are not written through the entry form.
TIMELINE_TYPE_LABELS: dict[str, str] = {**ENTRY_TYPE_LABELS, "level_change": "Nivåendring"}

MEASURE_STATUS_LABELS: dict[str, str] = {
    "planned": "planlagt",
    "active": "pågår",
    "done": "avsluttet",
    "stopped": "avbrutt",
}

OUTCOME_LABELS: dict[str, str] = {
    "continue": "Fortsette tiltaket",
    "change": "Endre tiltaket",
    "end": "Avslutte tiltaket",
}

# The choices the entry form offers, by field name.
ENTRY_FORM_LABELS: dict[str, dict[str, str]] = {
    "measure_status": MEASURE_STATUS_LABELS,
    "outcome": OUTCOME_LABELS,
}

# One plain line per BTI level (DESIGN.md, ../shared/domain/tverrfaglig-samarbeid-bti.txt).
LEVEL_EXPLANATIONS: dict[int, str] = {
    0: "Vi avklarer om bekymringen har grunnlag.",
    1: "Én tjeneste setter i gang tiltak selv, sammen med familien.",
    2: "To tjenester samarbeider tett med familien.",
    3: "Flere tjenester samarbeider bredt med familien.",
}

ROLE_LABELS: dict[str, str] = {
    "coordinator": "stafettholder",
    "writer": "skriver",
    "reader": "leser",
}


def format_date(value: date | str) -> str:
    """3. mai 2016. A string that is not an ISO date is returned as it is."""
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return value
        return format_date(parsed)
    return f"{value.day}. {_MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: datetime | str) -> str:
    """22. november 2026 kl. 10:15, in Norwegian time."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return format_datetime(parsed)
    if value.tzinfo is None:
        return f"{format_date(value.date())} kl. {value:%H:%M}"
    local = value.astimezone(OSLO)
    return f"{format_date(local.date())} kl. {local:%H:%M}"
