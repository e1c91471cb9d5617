"""What the portal accepts from a form, and what it says when it does not."""

from __future__ import annotations

from datetime import date

from services.portal.forms import (
    check_entry_form,
    check_guardian_form,
    check_new_stafettlogg_form,
)


def test_a_complete_new_log_form_is_accepted_and_trimmed() -> None:
    state = check_new_stafettlogg_form(
        {"child_name": "  Ola  ", "child_birth_date": "2016-05-03", "title": "Uro"},
        today=date(2026, 11, 22),
    )
    assert state.ok
    assert state.values["child_name"] == "Ola"


def test_a_birth_date_today_is_accepted_but_tomorrow_is_not() -> None:
    today = date(2026, 11, 22)
    fields = {"child_name": "Ola", "title": "Uro"}
    assert check_new_stafettlogg_form({**fields, "child_birth_date": "2026-11-22"}, today=today).ok
    later = check_new_stafettlogg_form({**fields, "child_birth_date": "2026-11-23"}, today=today)
    assert later.errors == {"child_birth_date": "Fødselsdatoen kan ikke være fram i tid."}


def test_impossible_dates_and_long_names_are_refused() -> None:
    state = check_new_stafettlogg_form(
        {"child_name": "x" * 201, "child_birth_date": "2016-02-30", "title": "Uro"}
    )
    assert set(state.errors) == {"child_name", "child_birth_date"}


def test_entry_text_keeps_line_breaks_and_type_must_be_known() -> None:
    state = check_entry_form({"entry_type": "poem", "text": "a\r\nb"})
    assert state.values["text"] == "a\nb"
    assert state.errors == {"entry_type": "Velg hva slags oppføring dette er."}


def test_a_fodselsnummer_has_eleven_digits() -> None:
    assert check_guardian_form({"pid": "010203 12345"}).ok
    assert not check_guardian_form({"pid": "0102031234x"}).ok
    assert not check_guardian_form({"pid": ""}).ok
