"""The two ways custody fails: a sealed value that does not open, and a KEK out of reach."""

from __future__ import annotations

__all__ = ["CustodyError", "KekUnavailableError"]


class CustodyError(Exception):
    """A sealed value did not open: wrong KEK, wrong owner, or altered."""


class KekUnavailableError(CustodyError):
    """The KEK could not be used at all (Vault unreachable, token refused, key missing): nothing
    is known about the sealed value, and nothing may be sealed until it is back."""
