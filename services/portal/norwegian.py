"""Norwegian (bokmål) words and date formats for what the portal shows."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "ENTRY_TYPE_LABELS",
    "OSLO",
    "ROLE_LABELS",
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
