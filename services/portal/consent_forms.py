"""The consent forms, checked, with a Norwegian message per field; and the scanned paper form,
checked by what its bytes are (not by its name or declared type).

Every check keeps what the person typed (`FormState.values`); a file cannot be kept, so the page
asks for it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from litestar.datastructures import UploadFile

from services.portal.consent import default_valid_until, new_consent_id
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.norwegian import OSLO
from shared.wire import CONSENT_SCOPES

__all__ = [
    "MAX_SCAN",
    "MAX_YEARS",
    "check_consent_form",
    "check_paper_consent_form",
    "read_scan",
    "scan_kind",
]

MAX_SCAN = 5 * 1024 * 1024
MAX_YEARS = 3
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
)


def _text(form: Mapping[str, object], name: str) -> str:
    raw = form.get(name, "")
    return raw.strip()[:200] if isinstance(raw, str) else ""


def _history(form: Mapping[str, object]) -> str:
    """«yes» only when the box «may read what was written before» is ticked; anything else,
    or no box, is «no» (the service sees only what is written from now on)."""
    return "yes" if _text(form, "history") == "yes" else ""


def _consent_id(form: Mapping[str, object]) -> str:
    typed = _text(form, "consent_id")
    return typed if _ID.fullmatch(typed) else new_consent_id()


def _check_last_day(state: FormState, today: date) -> None:
    typed = state.values["valid_until"]
    if not typed:
        state.errors["valid_until"] = N_("Velg hvor lenge samtykket skal gjelde.")
        return
    try:
        last_day = date.fromisoformat(typed) if len(typed) == 10 else None
    except ValueError:
        last_day = None
    if last_day is None:
        state.errors["valid_until"] = N_("Skriv datoen som år-måned-dag, for eksempel 2027-05-03.")
    elif last_day < today:
        state.errors["valid_until"] = N_("Datoen kan ikke være tilbake i tid.")
    elif last_day > today.replace(year=today.year + MAX_YEARS, day=min(today.day, 28)):
        state.errors["valid_until"] = N_(
            "Et samtykke kan gjelde i høyst %(max_years)s år om gangen. Velg en tidligere dato.",
            max_years=MAX_YEARS,
        )


def check_consent_form(
    form: Mapping[str, object], service_ids: set[str], *, today: date | None = None
) -> FormState:
    """A guardian's «Gi samtykke» or «Avslå» for one service unit. A refusal needs no date:
    a date that does not fit is replaced by the default."""
    today = today or datetime.now(OSLO).date()
    state = FormState(
        values={
            "consent_id": _consent_id(form),
            "service_id": _text(form, "service_id"),
            "decision": _text(form, "decision"),
            "valid_until": _text(form, "valid_until"),
            "scope": _text(form, "scope") or "all",
            "history": _history(form),
        }
    )
    if state.values["service_id"] not in service_ids:
        state.errors["_form"] = N_(
            "Vi fant ikke denne tjenesten i stafettloggen. Last siden på nytt."
        )
    if state.values["decision"] not in {"given", "refused"}:
        state.errors["_form"] = N_("Velg om du vil gi samtykke eller avslå.")
    if state.values["scope"] not in CONSENT_SCOPES:
        state.errors["scope"] = N_("Velg hva samtykket gjelder.")
    if state.values["decision"] == "refused":
        probe = FormState(values=dict(state.values))
        _check_last_day(probe, today)
        if probe.errors:
            state.values["valid_until"] = default_valid_until(today).isoformat()
    else:
        _check_last_day(state, today)
    return state


def check_paper_consent_form(
    form: Mapping[str, object],
    service_ids: set[str],
    giver_ids: set[str],
    *,
    today: date | None = None,
) -> FormState:
    """The coordinator's record of a consent (or refusal) signed on paper; the scan is read
    separately (`read_scan`)."""
    today = today or datetime.now(OSLO).date()
    state = FormState(
        values={
            "consent_id": _consent_id(form),
            "service_id": _text(form, "service_id"),
            "given_by": _text(form, "given_by"),
            "decision": _text(form, "decision") or "given",
            "valid_until": _text(form, "valid_until"),
            "scope": _text(form, "scope") or "all",
            "history": _history(form),
        }
    )
    if state.values["service_id"] not in service_ids:
        state.errors["service_id"] = N_("Velg tjenesten samtykket gjelder.")
    if state.values["given_by"] not in giver_ids:
        state.errors["given_by"] = N_("Velg hvem som skrev under på skjemaet.")
    if state.values["decision"] not in {"given", "refused"}:
        state.errors["decision"] = N_("Velg om skjemaet gir samtykke eller avslår.")
    if state.values["scope"] not in CONSENT_SCOPES:
        state.errors["scope"] = N_("Velg hva samtykket gjelder.")
    _check_last_day(state, today)
    return state


def scan_kind(data: bytes) -> str | None:
    """PDF, PNG or JPEG by the file's first bytes, or None for anything else."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


async def read_scan(upload: object, state: FormState, field: str = "scan") -> bytes | None:
    """The uploaded scan's bytes, or None with a message in `state.errors[field]`."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        state.errors[field] = N_("Velg filen med det skannede skjemaet.")
        return None
    data = await upload.read(MAX_SCAN + 1)
    if not data:
        state.errors[field] = N_("Filen er tom. Velg filen med det skannede skjemaet.")
        return None
    if len(data) > MAX_SCAN:
        state.errors[field] = N_(
            "Filen er større enn 5 MB. Skann skjemaet med lavere oppløsning, "
            "eller lagre det som PDF."
        )
        return None
    if scan_kind(data) is None:
        state.errors[field] = N_(
            "Filen må være en PDF, et JPEG-bilde eller et PNG-bilde. "
            "Lagre skannet i et av disse formatene og prøv igjen."
        )
        return None
    return data
