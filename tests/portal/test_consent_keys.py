"""Consent and keys in the portal: the consent form asks, in plain words, whether the service may
read what was written before; when consent is given again after it ended, the guardian's portal
wraps the current epoch key for the service at once (earlier epochs only with that choice)."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag

from services.portal.norwegian import OSLO
from services.portal.sealing import open_epoch_keys
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from tests.portal.conftest import Portal

_IN_A_MONTH = (datetime.now(OSLO).date() + timedelta(days=30)).isoformat()


def _log_with_school(portal: Portal) -> str:
    """The coordinator's log with the guardian and the school (no consent yet); the guardian
    is logged in."""
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    for form_path, data in (
        (f"{path}/foresatte", {"pid": "01020312345"}),
        (f"{path}/tjenester", {"service_id": "skole-1"}),
    ):
        assert portal.post_form(form_path, data, from_page=path).status_code == 303
    portal.log_in(portal.guardian)
    return stafettlogg_id


def _give(portal: Portal, stafettlogg_id: str, *, history: bool) -> None:
    path = f"/stafettlogger/{stafettlogg_id}"
    data = {"service_id": "skole-1", "decision": "given", "valid_until": _IN_A_MONTH}
    if history:
        data["history"] = "yes"
    response = portal.post_form(f"{path}/samtykker", {**data, "scope": "all"}, from_page=path)
    assert response.status_code == 303, response.text


def _withdraw(portal: Portal, stafettlogg_id: str) -> None:
    log = portal.logg.logs[stafettlogg_id]
    [consent] = [c for c in log.consents if c.valid_now]
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/samtykker/{consent.id}/trekk-tilbake", {"service_id": "skole-1"}, from_page=path
    )
    assert response.status_code == 303, response.text


def _school_epochs(portal: Portal, stafettlogg_id: str) -> dict[int, bytes]:
    """The epoch keys the school opens with its own private key from the grants logg holds."""
    opened: dict[int, bytes] = {}
    for grant in portal.logg.logs[stafettlogg_id].grants:
        if grant.recipient_id != "skole-1":
            continue
        context = KeyGrantContext(stafettlogg_id, grant.epoch, "service", "skole-1")
        try:
            opened[grant.epoch] = unwrap_epoch_key(grant.wrapped_key, portal.school.keys, context)
        except (InvalidTag, ValueError):
            continue
    return opened


def _guardian_epochs(portal: Portal, stafettlogg_id: str) -> dict[int, bytes]:
    view = portal.logg._view(portal.logg.logs[stafettlogg_id], portal.guardian.subject)
    return open_epoch_keys(view, subject=portal.guardian.subject, keys=portal.guardian.keys)


def test_the_consent_form_asks_whether_the_service_may_read_the_history(portal: Portal) -> None:
    stafettlogg_id = _log_with_school(portal)

    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")

    assert 'name="history" type="checkbox" value="yes"' in page.text
    assert "Tjenesten kan også lese det som er skrevet før samtykket" in page.text
    assert "ser Nordby skole bare det som skrives fra nå av" in page.text


def test_the_history_choice_is_recorded_with_the_consent(portal: Portal) -> None:
    stafettlogg_id = _log_with_school(portal)

    _give(portal, stafettlogg_id, history=True)

    [consent] = portal.logg.logs[stafettlogg_id].consents
    assert consent.history is True
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert "Tjenesten kan også lese det som ble skrevet før samtykket." in page.text


def test_consent_given_again_wraps_the_current_key_for_the_service_at_once(
    portal: Portal,
) -> None:
    stafettlogg_id = _log_with_school(portal)
    _give(portal, stafettlogg_id, history=False)
    _withdraw(portal, stafettlogg_id)  # the portal starts epoch 2 without the school
    log = portal.logg.logs[stafettlogg_id]
    assert log.current_epoch == 2
    assert _school_epochs(portal, stafettlogg_id) == {}

    _give(portal, stafettlogg_id, history=False)

    assert log.current_epoch == 2  # no rotation was needed
    guardian_keys = _guardian_epochs(portal, stafettlogg_id)
    assert _school_epochs(portal, stafettlogg_id) == {2: guardian_keys[2]}
    assert portal.logg.key_grants_sent[-1].recipient_id == "skole-1"


def test_consent_again_with_history_wraps_the_earlier_epochs_too(portal: Portal) -> None:
    stafettlogg_id = _log_with_school(portal)
    _give(portal, stafettlogg_id, history=False)
    _withdraw(portal, stafettlogg_id)

    _give(portal, stafettlogg_id, history=True)

    assert _school_epochs(portal, stafettlogg_id) == _guardian_epochs(portal, stafettlogg_id)
    assert sorted(_school_epochs(portal, stafettlogg_id)) == [1, 2]


def test_a_consent_without_history_says_so_on_the_page(portal: Portal) -> None:
    stafettlogg_id = _log_with_school(portal)

    _give(portal, stafettlogg_id, history=False)

    [consent] = portal.logg.logs[stafettlogg_id].consents
    assert consent.history is False
    page = portal.client.get(f"/stafettlogger/{stafettlogg_id}")
    assert "Tjenesten ser bare det som skrives etter samtykket." in page.text
