"""Reading a staff file: merged per person, every bad line named, the pid never in a reason."""

from __future__ import annotations

import pytest

from services.auth.directory_admin.csv_import import CsvRejectedError, parse_staff_csv

UNITS = {"sentrum-skole": "Sentrum skole", "helsestasjon-sentrum": "Helsestasjonen i Sentrum"}
NINA = "01818500005"


def test_a_person_on_several_lines_works_for_every_unit_named() -> None:
    body = (
        "fodselsnummer;navn;tjeneste;admin\n"
        f"{NINA};Nina  Ny;sentrum-skole;\n"
        f"{NINA};Nina Ny;Helsestasjonen i Sentrum|sentrum-skole;ja\n"
    ).encode()
    (record,) = parse_staff_csv(body, UNITS)
    assert record.name == "Nina Ny"
    assert record.service_ids == ["sentrum-skole", "helsestasjon-sentrum"]
    assert record.admin is True
    assert NINA not in repr(record)


def test_quoted_fields_and_the_admin_column_left_out_are_read() -> None:
    body = f'fodselsnummer,navn,tjeneste\n{NINA},"Ny, Nina",sentrum-skole\n'.encode()
    (record,) = parse_staff_csv(body, UNITS)
    assert record.name == "Ny, Nina"
    assert record.admin is False


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("01818500006;Nina;sentrum-skole;nei", "ugyldig fødselsnummer"),
        (f"{NINA};Nina;sentrum-skole", "linjen har 3 felt"),
        (f"{NINA};Nina;;nei", "mangler tjeneste"),
        (f"{NINA};Nina;bup;nei", "ukjent tjeneste «bup»"),
        (f"{NINA};Nina;sentrum-skole;kanskje", "admin må være"),
    ],
)
def test_each_kind_of_bad_line_is_named_by_its_number(line: str, reason: str) -> None:
    body = f"fodselsnummer;navn;tjeneste;admin\n\n{line}\n".encode()
    with pytest.raises(CsvRejectedError) as refused:
        parse_staff_csv(body, UNITS)
    (error,) = refused.value.errors
    assert error.line == 3
    assert error.reason.startswith(reason)
    assert NINA not in error.reason


def test_the_same_person_with_two_names_is_refused() -> None:
    body = (
        "fodselsnummer;navn;tjeneste;admin\n"
        f"{NINA};Nina Ny;sentrum-skole;\n"
        f"{NINA};Nina Annen;sentrum-skole;\n"
    ).encode()
    with pytest.raises(CsvRejectedError) as refused:
        parse_staff_csv(body, UNITS)
    assert refused.value.errors[0].line == 3
