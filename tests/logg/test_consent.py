"""Consent: given to a service unit in the portal or on paper, refused, withdrawn, expiring; a
service takes part only while it holds valid consent, decided at each request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from shared.crypto.envelope import SealedEnvelope
from shared.wire import ConsentPage, ConsentView, WithdrawalRequest
from tests.logg.helpers import Actor, LoggApi, consent_body, entry_body, seal


def _service_log(api: LoggApi) -> tuple[str, bytes, Actor, Actor, Actor]:
    coordinator, guardian, school = Actor.staff(), Actor.guardian(), Actor.staff()
    log_id, key = api.create(
        coordinator, [(guardian, "person", "writer"), (school, "service", "writer")]
    )
    return log_id, key, coordinator, guardian, school


def test_a_guardian_gives_consent_in_the_portal_and_the_service_may_then_read(
    api: LoggApi,
) -> None:
    log_id, _, _, guardian, school = _service_log(api)
    assert school.service is not None
    path = f"/stafettlogger/{log_id}/entries"
    assert api.get(path, school).status_code == 403

    response = api.post(f"/stafettlogger/{log_id}/consents", consent_body(school.service), guardian)

    assert response.status_code == 201, response.text
    view = msgspec.json.decode(response.content, type=ConsentView)
    assert (view.method, view.given_by, view.acr, view.valid_now) == (
        "portal",
        guardian.subject,
        "idporten-loa-high",
        True,
    )
    assert api.get(path, school).status_code == 200


def test_withdrawn_consent_refuses_the_services_very_next_request(api: LoggApi) -> None:
    log_id, key, _, guardian, school = _service_log(api)
    assert school.service is not None
    body = consent_body(school.service)
    assert api.post(f"/stafettlogger/{log_id}/consents", body, guardian).status_code == 201
    assert api.get(f"/stafettlogger/{log_id}", school).status_code == 200

    withdrawn = api.post(
        f"/stafettlogger/{log_id}/consents/{body.id}/withdraw",
        WithdrawalRequest(method="portal"),
        guardian,
    )

    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawn_by"] == guardian.subject
    refused = api.post(f"/stafettlogger/{log_id}/entries", entry_body(school, log_id, key), school)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:stafettlogg:problem:consent-missing"
    again = api.post(
        f"/stafettlogger/{log_id}/consents/{body.id}/withdraw",
        WithdrawalRequest(method="portal"),
        guardian,
    )
    assert again.status_code == 200  # a retry is harmless


def test_an_expired_consent_lets_nobody_in_and_a_future_one_not_yet(api: LoggApi) -> None:
    log_id, key, coordinator, _, school = _service_log(api)
    assert school.service is not None
    now = datetime.now(UTC)
    api.consent(
        log_id, coordinator, key, school.service,
        valid_from=now - timedelta(days=2), valid_until=now - timedelta(days=1),
    )  # fmt: skip
    assert "expired" in api.get(f"/stafettlogger/{log_id}", school).json()["detail"]
    api.consent(
        log_id, coordinator, key, school.service,
        valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=2),
    )  # fmt: skip

    response = api.get(f"/stafettlogger/{log_id}", school)

    assert response.status_code == 403
    assert "not valid yet" in response.json()["detail"]


def test_a_refusal_is_recorded_and_lets_the_service_in_no_more_than_none(api: LoggApi) -> None:
    log_id, _, _, guardian, school = _service_log(api)
    assert school.service is not None
    body = consent_body(school.service, status="refused")

    assert api.post(f"/stafettlogger/{log_id}/consents", body, guardian).status_code == 201

    assert "refused" in api.get(f"/stafettlogger/{log_id}", school).json()["detail"]
    withdraw = api.post(
        f"/stafettlogger/{log_id}/consents/{body.id}/withdraw",
        WithdrawalRequest(method="portal"),
        guardian,
    )
    assert withdraw.status_code == 409


def test_paper_consent_is_recorded_with_a_sealed_scan_the_guardian_can_fetch(
    api: LoggApi,
) -> None:
    log_id, key, coordinator, guardian, school = _service_log(api)
    assert school.service is not None
    body = consent_body(school.service, paper_by=(coordinator, log_id, key))

    response = api.post(f"/stafettlogger/{log_id}/consents", body, coordinator)

    assert response.status_code == 201, response.text
    view = msgspec.json.decode(response.content, type=ConsentView)
    assert (view.method, view.has_scan, view.recorded_by, view.acr) == (
        "paper",
        True,
        coordinator.subject,
        None,
    )
    scan = api.get(f"/stafettlogger/{log_id}/consents/{body.id}/scan", guardian)
    assert scan.status_code == 200
    assert msgspec.json.decode(scan.content, type=SealedEnvelope) == body.scan
    assert api.get(f"/stafettlogger/{log_id}/consents/{body.id}/scan", school).status_code == 403


def test_paper_consent_needs_a_scan_sealed_for_this_consent(api: LoggApi) -> None:
    log_id, key, coordinator, _, school = _service_log(api)
    assert school.service is not None
    body = consent_body(school.service, paper_by=(coordinator, log_id, key))
    other_scan = seal(coordinator, log_id, key, entry_type="consent_scan")

    missing = api.post(
        f"/stafettlogger/{log_id}/consents",
        msgspec.structs.replace(body, scan=None),
        coordinator,
    )
    wrong = api.post(
        f"/stafettlogger/{log_id}/consents",
        msgspec.structs.replace(body, scan=other_scan),
        coordinator,
    )

    assert missing.json()["type"] == "urn:stafettlogg:problem:scan-required"
    assert wrong.json()["type"] == "urn:stafettlogg:problem:header-mismatch"


def test_the_coordinator_records_a_withdrawal_on_paper(api: LoggApi) -> None:
    log_id, key, coordinator, guardian, school = _service_log(api)
    assert school.service is not None
    consent_id = api.consent(log_id, coordinator, key, school.service)
    scan = seal(coordinator, log_id, key, entry_type="consent_scan")

    response = api.post(
        f"/stafettlogger/{log_id}/consents/{consent_id}/withdraw",
        WithdrawalRequest(method="paper", scan=scan),
        coordinator,
    )

    assert response.status_code == 200, response.text
    assert response.json()["withdrawal_method"] == "paper"
    fetched = api.get(
        f"/stafettlogger/{log_id}/consents/{consent_id}/scan", guardian, {"purpose": "withdrawal"}
    )
    assert msgspec.json.decode(fetched.content, type=SealedEnvelope) == scan


def test_a_consent_retry_returns_the_record_and_another_body_conflicts(api: LoggApi) -> None:
    log_id, _, _, guardian, school = _service_log(api)
    assert school.service is not None
    body = consent_body(school.service)
    path = f"/stafettlogger/{log_id}/consents"

    assert api.post(path, body, guardian).status_code == 201
    retry = api.post(path, body, guardian)
    other = api.post(path, msgspec.structs.replace(body, scopes=["health"]), guardian)

    assert retry.status_code == 200
    assert retry.json()["id"] == body.id
    assert other.status_code == 409
    page = msgspec.json.decode(api.get(path, guardian).content, type=ConsentPage)
    assert [item.id for item in page.items] == [body.id]


def test_a_consent_period_must_make_sense(api: LoggApi) -> None:
    log_id, _, _, guardian, school = _service_log(api)
    assert school.service is not None
    now = datetime.now(UTC)
    backwards = consent_body(school.service, valid_from=now, valid_until=now - timedelta(days=1))
    naive = msgspec.json.encode(consent_body(school.service)).replace(b'Z"', b'"')

    first = api.post(f"/stafettlogger/{log_id}/consents", backwards, guardian)
    second = api.post(f"/stafettlogger/{log_id}/consents", naive, guardian)

    assert first.json()["type"] == "urn:stafettlogg:problem:invalid-consent-period"
    assert second.status_code == 400


def test_consent_pages_newest_first(api: LoggApi) -> None:
    log_id, key, coordinator, guardian, _ = _service_log(api)
    ids = [api.consent(log_id, coordinator, key, f"svc-{n}") for n in range(3)]

    first = api.get(f"/stafettlogger/{log_id}/consents", guardian, {"limit": 2}).json()
    second = api.get(
        f"/stafettlogger/{log_id}/consents", guardian, {"limit": 2, "cursor": first["next_cursor"]}
    ).json()

    assert [c["id"] for c in first["items"] + second["items"]] == list(reversed(ids))
    assert second["next_cursor"] is None


def test_whether_the_service_may_see_history_is_recorded_with_the_consent(api: LoggApi) -> None:
    log_id, key, coordinator, guardian, school = _service_log(api)
    assert school.service is not None
    path = f"/stafettlogger/{log_id}/consents"
    with_history = msgspec.structs.replace(consent_body(school.service), history=True)
    without = consent_body(school.service)
    refusal = msgspec.structs.replace(consent_body(school.service, status="refused"), history=True)
    on_paper = msgspec.structs.replace(
        consent_body(school.service, paper_by=(coordinator, log_id, key)), history=True
    )

    given = [
        api.post(path, with_history, guardian),
        api.post(path, without, guardian),
        api.post(path, refusal, guardian),
        api.post(path, on_paper, coordinator),
    ]

    assert [response.status_code for response in given] == [201, 201, 201, 201]
    assert [response.json()["history"] for response in given] == [True, False, False, True]
    listed = msgspec.json.decode(api.get(path, guardian).content, type=ConsentPage)
    recorded = {view.id: view.history for view in listed.items}
    assert recorded == {
        with_history.id: True,
        without.id: False,
        refusal.id: False,  # a refusal gives nothing, history neither
        on_paper.id: True,
    }
