"""Reading a staff list exported from a spreadsheet: all of it is right, or none of it is used.

The file is UTF-8 (a byte-order mark, as Excel writes, is allowed) with the header row
`fodselsnummer;navn;tjeneste;admin`, optionally with a fifth column `epost` (the staff member's
notification address; empty leaves a stored one as it is). The separator is `;` (Norwegian
Excel) or `,`. `tjeneste` names one or more service units by id or by exact name, several
separated by `|`; a person may also stand on several lines, one per unit. `admin` is `ja`/`nei`
(also `x`, `1`, `true`, or empty for no).
A fødselsnummer is never repeated back: an error names the line and the reason only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.auth.directory import is_valid_fodselsnummer
from services.auth.directory_admin.schemas import MAX_PERSON_NAME, ImportLineError
from services.auth.notifications.addresses import normalize_address

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_CSV_LINES",
    "CsvRejectedError",
    "StaffRecord",
    "parse_staff_csv",
]

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_LINES = 5000
_MAX_ERRORS = 200
_HEADER = ("fodselsnummer", "navn", "tjeneste", "admin")
_EMAIL_COLUMN = "epost"
_HEADER_ALIASES = {
    "fødselsnummer": "fodselsnummer",
    "fnr": "fodselsnummer",
    "tjenester": "tjeneste",
    "e-post": "epost",
    "e-postadresse": "epost",
    "email": "epost",
}
_YES = frozenset({"ja", "j", "x", "1", "true", "yes"})
_NO = frozenset({"", "nei", "n", "0", "false", "no"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CsvRejectedError(Exception):
    """The file was refused as a whole; `errors` says where and why (line numbers)."""

    def __init__(self, errors: list[ImportLineError]) -> None:
        super().__init__(f"{len(errors)} errors in the staff file")
        self.errors = errors


@dataclass
class StaffRecord:
    """One person of the file, with every line about them merged. Holds a pid: keep in memory."""

    pid: str = field(repr=False)
    name: str
    service_ids: list[str]
    admin: bool
    line: int
    email: str | None = None  # a notification address, normalised; None: not given


def _decode(body: bytes) -> str:
    if len(body) > MAX_CSV_BYTES:
        raise CsvRejectedError([ImportLineError(0, "filen er større enn 1 MiB")])
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvRejectedError(
            [ImportLineError(0, "filen er ikke UTF-8; lagre den som «CSV UTF-8»")]
        ) from None


def _header(row: list[str]) -> tuple[str, ...] | None:
    names = tuple(_HEADER_ALIASES.get(n.strip().lower(), n.strip().lower()) for n in row)
    if names in (_HEADER, _HEADER[:3], (*_HEADER, _EMAIL_COLUMN)):
        return names
    return None


def _resolve_services(
    cell: str, services: Mapping[str, str], by_name: Mapping[str, list[str]]
) -> tuple[list[str], str | None]:
    found: list[str] = []
    for raw in cell.split("|"):
        wanted = raw.strip()
        if not wanted:
            continue
        if wanted in services:
            found.append(wanted)
            continue
        ids = by_name.get(wanted.casefold(), [])
        if len(ids) == 1:
            found.append(ids[0])
        elif len(ids) > 1:
            return [], f"tjenestenavnet «{wanted[:60]}» passer på flere tjenester; bruk id"
        else:
            return [], f"ukjent tjeneste «{wanted[:60]}»"
    return found, None


def parse_staff_csv(body: bytes, services: Mapping[str, str]) -> list[StaffRecord]:
    """The staff in the file, merged per person, if every line is right; else CsvRejectedError.

    `services` maps each active unit's id to its name. Guarantees that every pid returned passes
    the mod-11 check, every name is 1-200 characters without control characters, and every
    service id is one of `services`. Does not touch the database."""
    text = _decode(body)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise CsvRejectedError([ImportLineError(1, "filen er tom")])
    delimiter = ";" if ";" in lines[0] else ","
    if len(lines) - 1 > MAX_CSV_LINES:
        raise CsvRejectedError(
            [ImportLineError(0, f"filen har mer enn {MAX_CSV_LINES} linjer med ansatte")]
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    by_name: dict[str, list[str]] = {}
    for service_id, name in services.items():
        by_name.setdefault(name.casefold(), []).append(service_id)
    errors: list[ImportLineError] = []
    records: dict[str, StaffRecord] = {}
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error:
        raise CsvRejectedError(
            [ImportLineError(reader.line_num, "linjen kan ikke leses (sjekk anførselstegn)")]
        ) from None
    header = _header(rows[0][1]) if rows else None
    if header is None:
        raise CsvRejectedError(
            [ImportLineError(1, "første linje må være «fodselsnummer;navn;tjeneste;admin»")]
        )
    for number, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        error = _read_row(row, number, len(header), services, by_name, records)
        if error is not None:
            errors.append(ImportLineError(number, error))
            if len(errors) >= _MAX_ERRORS:
                break
    if not records and not errors:
        errors.append(ImportLineError(2, "filen har ingen ansatte"))
    if errors:
        raise CsvRejectedError(errors)
    return list(records.values())


def _read_row(
    row: list[str],
    number: int,
    columns: int,
    services: Mapping[str, str],
    by_name: Mapping[str, list[str]],
    records: dict[str, StaffRecord],
) -> str | None:
    if len(row) != columns:
        return f"linjen har {len(row)} felt, men skal ha {columns}"
    pid = row[0].strip().replace(" ", "")
    name = " ".join(row[1].split())
    if not is_valid_fodselsnummer(pid):
        return "ugyldig fødselsnummer"
    if not name:
        return "mangler navn"
    if len(name) > MAX_PERSON_NAME or _CONTROL.search(name):
        return f"navnet kan ha høyst {MAX_PERSON_NAME} vanlige tegn"
    service_ids, problem = _resolve_services(row[2], services, by_name)
    if problem is not None:
        return problem
    admin_cell = row[3].strip().lower() if columns >= 4 else ""
    if admin_cell not in _YES and admin_cell not in _NO:
        return "admin må være «ja» eller «nei»"
    admin = admin_cell in _YES
    if not service_ids and not admin:
        return "mangler tjeneste (bare administratorer kan stå uten tjeneste)"
    email_cell = row[4].strip() if columns == 5 else ""
    email = normalize_address(email_cell) if email_cell else None
    if email_cell and email is None:
        return "e-postadressen er ikke gyldig"
    earlier = records.get(pid)
    if earlier is None:
        records[pid] = StaffRecord(
            pid, name, list(dict.fromkeys(service_ids)), admin, number, email
        )
        return None
    if earlier.name != name:
        return f"samme person står med et annet navn på linje {earlier.line}"
    if email is not None and earlier.email not in (None, email):
        return f"samme person står med en annen e-postadresse på linje {earlier.line}"
    earlier.email = earlier.email or email
    earlier.service_ids.extend(s for s in service_ids if s not in earlier.service_ids)
    earlier.admin = earlier.admin or admin
    return None
