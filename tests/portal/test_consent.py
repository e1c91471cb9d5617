"""Consent in the portal: a guardian gives, refuses and withdraws it; the coordinator records
consent signed on paper with its scan, sealed before it leaves the portal."""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.portal.norwegian import OSLO, format_date
from services.portal.sealing import open_epoch_keys
from shared.crypto.envelope import open_envelope
from tests.portal.conftest import Portal
from tests.portal.fakes import Person

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"skannet-samtykke-png" * 10
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\nskannet-samtykke-pdf\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"skannet-samtykke-jpeg" * 10
_CONSENT_ID = re.compile(r'name="consent_id" value="([A-Za-z0-9_-]+)"')


def _shared_log(portal: Portal) -> str:
    """A log made by the coordinator with the guardian and the school; the guardian logged in."""
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    added = portal.post_form(f"{path}/foresatte", {"pid": "01020312345"}, from_page=path)
    assert added.status_code == 303
    added = portal.post_form(f"{path}/tjenester", {"service_id": "skole-1"}, from_page=path)
    assert added.status_code == 303
    portal.log_in(portal.guardian)
    return stafettlogg_id


def _in_days(days: int) -> date:
    return datetime.now(OSLO).date() + timedelta(days=days)


def _give(
    portal: Portal,
    stafettlogg_id: str,
    *,
    decision: str = "given",
    htmx: bool = False,
    **extra: str,
) -> httpx.Response:
    path = f"/stafettlogger/{stafettlogg_id}"
    data = {
        "service_id": "skole-1",
        "decision": decision,
        "valid_until": _in_days(30).isoformat(),
        "scope": "all",
        **extra,
    }
    return portal.post_form(f"{path}/samtykker", data, from_page=path, htmx=htmx)


def test_a_guardian_sees_what_consent_means_and_that_the_school_awaits_it(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert page.status_code == 200
    assert '<section id="consent"' in page.text
    assert (
        "Når du gir samtykke, kan de ansatte i Nordby skole lese og skrive i stafettloggen "
        "til og med" in page.text
    )
    assert "Du kan trekke samtykket tilbake når du vil." in page.text
    assert "Samtykke er ikke gitt ennå" in page.text
    assert "venter på samtykke" in page.text
    assert '<label for="valid_until-skole-1">Samtykket gjelder til og med</label>' in page.text
    assert f'value="{_in_days(0).replace(year=_in_days(0).year + 1).isoformat()}"' in page.text
    assert "Gi samtykke</button>" in page.text
    assert "Avslå</button>" in page.text
    assert 'name="_csrf_token"' in page.text
    assert "Registrer samtykke på papir" not in page.text


def test_a_guardian_gives_consent_until_a_chosen_day(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    last_day = _in_days(30)
    response = _give(portal, stafettlogg_id, valid_until=last_day.isoformat(), scope="school")
    assert response.status_code == 303
    assert response.headers["location"] == f"/stafettlogger/{stafettlogg_id}"
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    assert consent.service_id == "skole-1"
    assert consent.status == "given"
    assert consent.method == "portal"
    assert consent.given_by == "guardian-1"
    assert consent.scopes == ["school"]
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=OSLO)
    assert consent.valid_until == end.astimezone(UTC)
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert f"Samtykke gitt til og med {format_date(last_day)}" in page.text
    assert "venter på samtykke" not in page.text
    assert "Trekk tilbake samtykke</button>" in page.text


def test_a_resent_form_reuses_its_consent_id(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    match = _CONSENT_ID.search(page.text)
    assert match is not None
    _give(portal, stafettlogg_id, consent_id=match.group(1))
    assert [c.id for c in portal.logg.logs[stafettlogg_id].consents] == [match.group(1)]
    again = _give(portal, stafettlogg_id, consent_id=match.group(1))
    assert again.status_code == 409
    assert "allerede registrert" in again.text
    assert len(portal.logg.logs[stafettlogg_id].consents) == 1


def test_a_guardian_refuses_and_the_refusal_is_recorded(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    response = _give(portal, stafettlogg_id, decision="refused", valid_until="")
    assert response.status_code == 303
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    assert consent.status == "refused"
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert "Samtykke avslått" in page.text
    assert "venter på samtykke" in page.text


def test_a_guardian_withdraws_consent(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    _give(portal, stafettlogg_id)
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/samtykker/{consent.id}/trekk-tilbake", {"service_id": "skole-1"}, from_page=path
    )
    assert response.status_code == 303
    (withdrawn,) = portal.logg.logs[stafettlogg_id].consents
    assert withdrawn.status == "withdrawn"
    assert withdrawn.withdrawal_method == "portal"
    page = portal.client.get(path)
    assert "Samtykket ble trukket tilbake" in page.text
    assert "venter på samtykke" in page.text


def test_with_htmx_the_consent_section_alone_comes_back_and_the_list_refreshes(
    portal: Portal,
) -> None:
    stafettlogg_id = _shared_log(portal)
    response = _give(portal, stafettlogg_id, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="consent"')
    assert "<html" not in response.text
    assert "Du har gitt samtykke. De ansatte i Nordby skole kan nå lese og skrive" in response.text
    assert response.headers["hx-trigger"] == "consent-changed"
    assert "HX-Request" in response.headers["vary"]
    block = portal.client.get(
        f"/stafettlogger/{stafettlogg_id}", headers={"HX-Request": "true", "HX-Target": "consent"}
    )
    assert block.text.lstrip().startswith('<section id="consent"')


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("31.12.2027", "Skriv datoen som år-måned-dag"),
        ("2001-01-01", "Datoen kan ikke være tilbake i tid."),
        ((date.today() + timedelta(days=4 * 366)).isoformat(), "høyst 3 år om gangen"),
        ("", "Velg hvor lenge samtykket skal gjelde."),
    ],
)
def test_a_date_that_does_not_fit_is_explained_and_kept(
    portal: Portal, typed: str, message: str
) -> None:
    stafettlogg_id = _shared_log(portal)
    response = _give(portal, stafettlogg_id, valid_until=typed, scope="health")
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{typed}"' in response.text or not typed
    assert '<option value="health" selected>' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "Noe må rettes før du kan gå videre" in response.text
    assert portal.logg.logs[stafettlogg_id].consents == []


def test_a_service_not_in_the_log_or_a_made_up_decision_is_refused(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    unknown = _give(portal, stafettlogg_id, service_id="helsestasjon-1")
    assert unknown.status_code == 422
    assert "Vi fant ikke denne tjenesten" in unknown.text
    odd = _give(portal, stafettlogg_id, decision="kanskje")
    assert odd.status_code == 422
    assert portal.logg.logs[stafettlogg_id].consents == []


def test_staff_cannot_give_or_withdraw_consent_in_the_portal(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    _give(portal, stafettlogg_id)
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    teacher = portal.auth.add_person(
        Person("teacher-1", "Lars Lærer", "staff", service=portal.school)
    )
    for person in (portal.staff, teacher):
        portal.log_in(person)
        response = _give(portal, stafettlogg_id)
        assert response.status_code == 403
        assert "Bare foresatte kan gi eller trekke tilbake samtykke" in response.text
        path = f"/stafettlogger/{stafettlogg_id}"
        withdrawal = portal.post_form(
            f"{path}/samtykker/{consent.id}/trekk-tilbake", {}, from_page="/"
        )
        assert withdrawal.status_code == 403
    assert [c.status for c in portal.logg.logs[stafettlogg_id].consents] == ["given"]


def test_a_guardian_outside_the_log_is_refused(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    portal.log_in(portal.outsider)
    response = _give(portal, stafettlogg_id)
    assert response.status_code == 403
    assert portal.logg.logs[stafettlogg_id].consents == []


def _paper(
    portal: Portal,
    stafettlogg_id: str,
    scan: tuple[str, bytes, str] | None,
    **extra: str,
) -> httpx.Response:
    path = f"/stafettlogger/{stafettlogg_id}"
    data = {
        "service_id": "skole-1",
        "given_by": "guardian-1",
        "decision": "given",
        "valid_until": _in_days(200).isoformat(),
        "scope": "all",
        "_csrf_token": portal.csrf_token(path),
        **extra,
    }
    files = {"scan": scan} if scan is not None else None
    response: httpx.Response = portal.client.post(
        f"{path}/samtykker/papir", data=data, files=files, follow_redirects=False
    )
    return response


@pytest.mark.parametrize(
    ("name", "content", "media_type"),
    [
        ("samtykke.png", PNG, "image/png"),
        ("samtykke.pdf", PDF, "application/pdf"),
        ("samtykke.jpg", JPEG, "image/jpeg"),
    ],
)
def test_the_coordinator_records_paper_consent_with_a_sealed_scan(
    portal: Portal, name: str, content: bytes, media_type: str
) -> None:
    stafettlogg_id = _shared_log(portal)
    portal.log_in(portal.staff)
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert "Registrer samtykke gitt på papir" in page.text
    assert '<option value="guardian-1">Gro Foresatt</option>' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    response = _paper(portal, stafettlogg_id, (name, content, media_type))
    assert response.status_code == 303, response.text
    log = portal.logg.logs[stafettlogg_id]
    (consent,) = log.consents
    assert (consent.method, consent.given_by, consent.status) == ("paper", "guardian-1", "given")
    sealed = log.consent_scans[consent.id]
    assert sealed.header.type == "consent_scan"
    assert sealed.header.entry_id == consent.id
    assert sealed.header.author == "staff-1"
    for body in portal.logg.request_bodies:
        assert content not in body
        assert base64.b64encode(content) not in body
    view = portal.logg._view(log, "staff-1")
    epoch_keys = open_epoch_keys(view, subject="staff-1", keys=portal.staff.keys)
    opened = open_envelope(
        sealed,
        epoch_key=epoch_keys[sealed.header.epoch],
        author_public=portal.staff.keys.public().signing_key(),
    )
    assert opened == content
    after = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert "(på papir)" in after.text
    assert "Registrer tilbaketrekking på papir" in after.text


@pytest.mark.parametrize(
    ("scan", "message"),
    [
        (("samtykke.png", b"GIF89a not really a png", "image/png"), "Filen må være en PDF"),
        (("samtykke.pdf", b"<html>%PDF-1.7</html>", "application/pdf"), "Filen må være en PDF"),
        (("samtykke.png", b"", "image/png"), "Filen er tom."),
        (("stor.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "application/pdf"), "større enn 5 MB"),
        (None, "Velg filen med det skannede skjemaet."),
    ],
)
def test_a_scan_that_does_not_fit_is_refused_and_the_form_kept(
    portal: Portal, scan: tuple[str, bytes, str] | None, message: str
) -> None:
    stafettlogg_id = _shared_log(portal)
    portal.log_in(portal.staff)
    last_day = _in_days(100).isoformat()
    response = _paper(portal, stafettlogg_id, scan, valid_until=last_day, decision="refused")
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{last_day}"' in response.text
    assert '<option value="guardian-1" selected>' in response.text
    assert '<option value="refused" selected>' in response.text
    assert "må du velge filen med skannet på nytt" in response.text
    assert portal.logg.logs[stafettlogg_id].consents == []


def test_a_paper_form_without_who_signed_is_explained(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    portal.log_in(portal.staff)
    response = _paper(portal, stafettlogg_id, ("s.png", PNG, "image/png"), given_by="")
    assert response.status_code == 422
    assert "Velg hvem som skrev under på skjemaet." in response.text
    assert 'href="#paper-given_by"' in response.text


def test_a_guardian_cannot_record_paper_consent(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    response = _paper(portal, stafettlogg_id, ("s.png", PNG, "image/png"))
    assert response.status_code == 403
    assert "Bare stafettholderen kan registrere samtykke på papir" in response.text
    assert portal.logg.logs[stafettlogg_id].consents == []


def test_the_coordinator_records_a_withdrawal_on_paper(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    _give(portal, stafettlogg_id)
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{stafettlogg_id}"
    url = f"{path}/samtykker/{consent.id}/papir-tilbaketrekking"
    missing = portal.client.post(
        url,
        data={"service_id": "skole-1", "_csrf_token": portal.csrf_token(path)},
        follow_redirects=False,
    )
    assert missing.status_code == 422
    assert "Velg filen med det skannede skjemaet." in missing.text
    response = portal.client.post(
        url,
        data={"service_id": "skole-1", "_csrf_token": portal.csrf_token(path)},
        files={"scan": ("trekk.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    (withdrawn,) = portal.logg.logs[stafettlogg_id].consents
    assert (withdrawn.status, withdrawn.withdrawal_method) == ("withdrawn", "paper")
    scan = portal.logg.logs[stafettlogg_id].consent_scans[f"{consent.id}-withdrawal"]
    assert scan.header.type == "consent_scan"


def test_a_paper_post_without_csrf_token_is_refused(portal: Portal) -> None:
    stafettlogg_id = _shared_log(portal)
    portal.log_in(portal.staff)
    response = portal.client.post(
        f"/stafettlogger/{stafettlogg_id}/samtykker/papir",
        data={"service_id": "skole-1", "given_by": "guardian-1"},
        files={"note": (None, "no file, so that nothing is left open")},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert portal.logg.logs[stafettlogg_id].consents == []
