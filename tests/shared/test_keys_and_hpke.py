from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto.envelope import new_epoch_key
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key, wrap_epoch_key
from shared.crypto.keys import ParticipantKeys, PublicKeys, generate_participant_keys


def test_private_keys_round_trip_through_bytes() -> None:
    keys = generate_participant_keys()
    restored = ParticipantKeys.from_bytes(keys.to_bytes())
    assert restored.public() == keys.public()


def test_unknown_key_version_is_refused() -> None:
    raw = bytearray(generate_participant_keys().to_bytes())
    raw[0] = 9
    with pytest.raises(ValueError, match="known version"):
        ParticipantKeys.from_bytes(bytes(raw))


def test_public_keys_are_checked_for_length() -> None:
    public = generate_participant_keys().public()
    with pytest.raises(ValueError, match="HPKE"):
        PublicKeys(public.hpke_public[:-1], public.sign_public)


def test_key_grant_opens_only_for_its_recipient_and_context() -> None:
    recipient = generate_participant_keys()
    other = generate_participant_keys()
    epoch_key = new_epoch_key()
    context = KeyGrantContext("log-1", 1, "person", "p_recipient")
    wrapped = wrap_epoch_key(epoch_key, recipient.public(), context)

    assert unwrap_epoch_key(wrapped, recipient, context) == epoch_key
    with pytest.raises(InvalidTag):
        unwrap_epoch_key(wrapped, other, context)
    for moved in (
        KeyGrantContext("log-2", 1, "person", "p_recipient"),
        KeyGrantContext("log-1", 2, "person", "p_recipient"),
        KeyGrantContext("log-1", 1, "service", "p_recipient"),
        KeyGrantContext("log-1", 1, "person", "p_other"),
    ):
        with pytest.raises(InvalidTag):
            unwrap_epoch_key(wrapped, recipient, moved)
