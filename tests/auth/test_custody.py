"""Key custody under the KEK."""

from __future__ import annotations

import pytest

from services.auth.custody import CustodyError, LocalKek, owner_aad


def test_sealed_key_opens_only_for_its_owner() -> None:
    custody = LocalKek(b"k" * 32)
    sealed = custody.seal(b"private key bytes", owner_aad("person", "p_a"))
    assert custody.unseal(sealed, owner_aad("person", "p_a")) == b"private key bytes"
    with pytest.raises(CustodyError):
        custody.unseal(sealed, owner_aad("person", "p_b"))
    with pytest.raises(CustodyError):
        custody.unseal(sealed, owner_aad("service", "p_a"))


def test_sealed_key_does_not_open_under_another_kek() -> None:
    sealed = LocalKek(b"k" * 32).seal(b"secret", owner_aad("person", "p_a"))
    with pytest.raises(CustodyError):
        LocalKek(b"x" * 32).unseal(sealed, owner_aad("person", "p_a"))


def test_altered_sealed_key_is_refused() -> None:
    custody = LocalKek(b"k" * 32)
    sealed = bytearray(custody.seal(b"secret", owner_aad("person", "p_a")))
    sealed[-1] ^= 1
    with pytest.raises(CustodyError):
        custody.unseal(bytes(sealed), owner_aad("person", "p_a"))
