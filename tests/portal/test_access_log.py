"""The innsynslogg: «Hvem har lest stafettloggen», for the guardians and the coordinator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.logg.access import Action
from services.portal.access_log import ACCESS_ACTION_LABELS
from shared.wire import AccessRecordView
from tests.portal.conftest import Portal
from tests.portal.fakes import Person


def _record(
    seq: int,
    subject: str,
    action: str,
    *,
    caller_role: str = "staff",
    service: str | None = None,
    roles: list[str] | None = None,
    decision: str = "allowed",
    at: datetime | None = None,
) -> AccessRecordView:
    return AccessRecordView(
        seq=seq,
        at=at or datetime(2026, 11, 22, 9, 15, tzinfo=UTC),
        subject=subject,
        caller_role=caller_role,
        service=service,
        roles=roles if roles is not None else ["writer"],
        action=action,
        entry_id=None,
        decision="allowed" if decision == "allowed" else "denied",
        reason="allowed" if decision == "allowed" else "not-a-participant",
        record_hash="00" * 32,
    )


def _shared_log(portal: Portal) -> tuple[str, Person]:
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    portal.post_form(f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path)
    teacher = portal.auth.add_person(
        Person("teacher-1", "Lars Lærer", "staff", service=portal.school)
    )
    portal.logg.logs[stafettlogg_id].access_records.extend(
        [
            _record(1, "staff-1", "create-stafettlogg", roles=["coordinator"], service="skole-1"),
            _record(2, "teacher-1", "read-entries", service="skole-1"),
            _record(
                3,
                "guardian-2",
                "read-stafettlogg",
                caller_role="guardian",
                roles=[],
                decision="denied",
                at=datetime(2026, 11, 22, 23, 30, tzinfo=UTC),
            ),
        ]
    )
    return stafettlogg_id, teacher


def test_every_action_logg_records_has_a_norwegian_label() -> None:
    assert set(ACCESS_ACTION_LABELS) == {action.value for action in Action}
    assert ACCESS_ACTION_LABELS["read-stafettlogg"] == "leste loggen"
    assert ACCESS_ACTION_LABELS["write-entry"] == "skrev en oppføring"


def test_a_guardian_sees_who_has_read_the_log_newest_first(portal: Portal) -> None:
    stafettlogg_id, _ = _shared_log(portal)
    portal.log_in(portal.guardian)
    log_page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert f'href="/stafettlogger/{stafettlogg_id}/innsyn"' in log_page.text
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}/innsyn")
    assert page.status_code == 200
    assert "<h1>Hvem har lest stafettloggen</h1>" in page.text
    text = page.text
    assert "Lars Lærer" in text
    assert "Ansatt, Nordby skole" in text
    assert "leste oppføringene" in text
    assert "Stine Stafettholder" in text
    assert "Stafettholder" in text
    assert "opprettet stafettloggen" in text
    assert "Ove Utenfor" in text
    assert "Nei, avvist" in text
    # 23:30 UTC is half past midnight the next day in Oslo
    assert "23. november 2026 kl. 00:30" in text
    assert "22. november 2026 kl. 10:15" in text
    assert text.index("Ove Utenfor") < text.index("Lars Lærer") < text.index("opprettet")


def test_the_coordinator_sees_it_too_and_older_records_are_paged(portal: Portal) -> None:
    stafettlogg_id, _ = _shared_log(portal)
    records = portal.logg.logs[stafettlogg_id].access_records
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records.extend(
        _record(10 + n, "teacher-1", "write-entry", at=start + timedelta(days=n)) for n in range(60)
    )
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{stafettlogg_id}/innsyn"
    first = portal.client.get(path)
    assert first.status_code == 200
    assert "skrev en oppføring" in first.text
    assert "opprettet stafettloggen" not in first.text
    assert f'href="{path}?cursor=50"' in first.text
    assert ">Eldre</a>" in first.text
    older = portal.client.get(f"{path}?cursor=50")
    assert "opprettet stafettloggen" in older.text
    assert "Eldre hendelser" in older.text
    fragment = portal.client.get(
        f"{path}?cursor=50", headers={"HX-Request": "true", "HX-Target": "access_records"}
    )
    assert fragment.text.lstrip().startswith('<section id="access_records"')
    assert "<html" not in fragment.text


def test_a_service_contact_is_refused_the_access_log_kindly(portal: Portal) -> None:
    stafettlogg_id, teacher = _shared_log(portal)
    portal.log_in(teacher)
    log_page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert f'href="/stafettlogger/{stafettlogg_id}/innsyn"' not in log_page.text
    response = portal.client.get(f"/stafettlogger/{stafettlogg_id}/innsyn")
    assert response.status_code == 403
    assert "Du har ikke tilgang til innsynsloggen" in response.text
    assert "Lars Lærer leste" not in response.text
    assert "leste oppføringene" not in response.text


def test_a_cursor_that_is_not_one_is_ignored(portal: Portal) -> None:
    stafettlogg_id, _ = _shared_log(portal)
    portal.log_in(portal.guardian)
    response = portal.client.get(f"/stafettlogger/{stafettlogg_id}/innsyn?cursor=%00%01")
    assert response.status_code == 200
    assert "opprettet stafettloggen" in response.text


def test_one_visit_shows_as_one_line_with_what_was_done(portal: Portal) -> None:
    stafettlogg_id, _ = _shared_log(portal)
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    portal.logg.logs[stafettlogg_id].access_records.extend(
        [
            _record(20, "teacher-1", "read-stafettlogg", service="skole-1", at=at),
            _record(21, "teacher-1", "read-entries", service="skole-1", at=at),
            _record(22, "teacher-1", "read-consents", service="skole-1", at=at),
        ]
    )
    portal.log_in(portal.guardian)
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}/innsyn")
    assert "leste loggen, leste oppføringene, så samtykkene" in page.text
    assert page.text.count("24. november 2026 kl. 09:00") == 1
