"""Key epochs in the portal: after a withdrawal or removal the portal starts the next epoch for
those who remain; a write refused because one is due starts it and succeeds; those who remain
read the new entry, the one who left holds no key for it."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from cryptography.exceptions import InvalidTag

from services.portal.norwegian import OSLO
from services.portal.sealing import open_entry, open_epoch_keys
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key
from shared.wire import StafettloggView
from tests.portal.conftest import Portal
from tests.portal.fakes import Person, _participant_left

_IN_A_MONTH = (datetime.now(OSLO).date() + timedelta(days=30)).isoformat()


def _shared_log_with_consent(portal: Portal) -> str:
    """The coordinator's log with the guardian and the school; the guardian gave consent and is
    logged in."""
    portal.log_in(portal.staff)
    stafettlogg_id = portal.create_stafettlogg()
    path = f"/stafettlogger/{stafettlogg_id}"
    for form_path, data in (
        (f"{path}/foresatte", {"pid": "01020312345"}),
        (f"{path}/tjenester", {"service_id": "skole-1"}),
    ):
        assert portal.post_form(form_path, data, from_page=path).status_code == 303
    portal.log_in(portal.guardian)
    given = portal.post_form(
        f"{path}/samtykker",
        {"service_id": "skole-1", "decision": "given", "valid_until": _IN_A_MONTH, "scope": "all"},
        from_page=path,
    )
    assert given.status_code == 303, given.text
    return stafettlogg_id


def _view_for(portal: Portal, stafettlogg_id: str, person: Person) -> StafettloggView:
    return portal.logg._view(portal.logg.logs[stafettlogg_id], person.subject)


def _write(portal: Portal, stafettlogg_id: str, text: str) -> None:
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/oppforinger", {"entry_type": "observation", "text": text}, from_page=path
    )
    assert response.status_code == 303, response.text


def _withdraw(portal: Portal, stafettlogg_id: str) -> None:
    (consent,) = portal.logg.logs[stafettlogg_id].consents
    path = f"/stafettlogger/{stafettlogg_id}"
    response = portal.post_form(
        f"{path}/samtykker/{consent.id}/trekk-tilbake", {"service_id": "skole-1"}, from_page=path
    )
    assert response.status_code == 303, response.text


def test_withdrawing_consent_starts_a_new_epoch_for_those_who_remain(portal: Portal) -> None:
    stafettlogg_id = _shared_log_with_consent(portal)

    _withdraw(portal, stafettlogg_id)

    log = portal.logg.logs[stafettlogg_id]
    assert (log.current_epoch, log.rotation_required) == (2, False)
    new_grants = {(g.recipient_kind, g.recipient_id) for g in log.grants if g.epoch == 2}
    assert new_grants == {("person", portal.staff.subject), ("person", portal.guardian.subject)}
    assert not any(g.recipient_id == "skole-1" for g in log.grants)


def test_a_write_after_a_withdrawal_rotates_once_and_the_remaining_read_it(
    portal: Portal,
) -> None:
    stafettlogg_id = _shared_log_with_consent(portal)
    log = portal.logg.logs[stafettlogg_id]
    school_epoch_1 = next(
        g for g in log.grants if g.recipient_id == "skole-1" and g.epoch == 1
    ).wrapped_key
    # The withdrawal reached logg but the portal did not start the next epoch then (say, it
    # stopped): logg has deleted the school's grants and refuses entries until the next epoch.
    log.consents = [msgspec.structs.replace(c, status="withdrawn") for c in log.consents]
    _participant_left(log, "service", "skole-1")
    assert log.rotation_required

    portal.log_in(portal.staff)
    _write(portal, stafettlogg_id, "Skrevet etter at samtykket ble trukket")

    assert len(portal.logg.epochs_started) == 1
    assert (log.current_epoch, log.rotation_required) == (2, False)
    entry = log.entries[-1]
    assert entry.sealed.header.epoch == 2
    for person in (portal.staff, portal.guardian):
        view = _view_for(portal, stafettlogg_id, person)
        keys = open_epoch_keys(view, subject=person.subject, keys=person.keys)
        author = portal.staff.keys.public()
        body = open_entry(stafettlogg_id, entry, keys, author)
        assert getattr(body, "text", None) == "Skrevet etter at samtykket ble trukket"
    # The school kept its epoch-1 grant and its keys; no grant it can open yields epoch 2.
    school_keys = portal.school.keys
    learned = {
        unwrap_epoch_key(
            school_epoch_1, school_keys, KeyGrantContext(stafettlogg_id, 1, "service", "skole-1")
        )
    }
    for grant in log.grants:
        try:
            learned.add(
                unwrap_epoch_key(
                    grant.wrapped_key,
                    school_keys,
                    KeyGrantContext(stafettlogg_id, grant.epoch, "service", "skole-1"),
                )
            )
        except (InvalidTag, ValueError):
            continue
    staff_view = _view_for(portal, stafettlogg_id, portal.staff)
    epoch_2 = open_epoch_keys(staff_view, subject=portal.staff.subject, keys=portal.staff.keys)[2]
    assert epoch_2 not in learned


def test_removing_a_participant_starts_a_new_epoch(portal: Portal) -> None:
    stafettlogg_id = _shared_log_with_consent(portal)
    portal.log_in(portal.staff)
    path = f"/stafettlogger/{stafettlogg_id}"

    response = portal.post_form(
        f"{path}/deltakere/fjern",
        {"participant": f"person:{portal.guardian.subject}", "confirm": "ja"},
        from_page=path,
    )

    assert response.status_code in {200, 303}, response.text
    log = portal.logg.logs[stafettlogg_id]
    assert log.current_epoch == 2
    recipients = {(g.recipient_kind, g.recipient_id) for g in log.grants if g.epoch == 2}
    assert recipients == {("person", portal.staff.subject), ("service", "skole-1")}
    assert not any(g.recipient_id == portal.guardian.subject for g in log.grants)
    _write(portal, stafettlogg_id, "Etter at en deltaker ble fjernet")
    assert log.entries[-1].sealed.header.epoch == 2
