"""What counts as an e-mail address here: a plain `local@domain` (RFC 5321 sizes), ASCII in the
local part, a domain of at least two labels (an internationalised domain is stored as IDNA).

Deliberately narrower than RFC 5322: no quoted local parts, comments, IP literals or display
names, and no control characters at all, so an address can never carry a header or an SMTP
command into a message."""

from __future__ import annotations

import re

__all__ = ["MAX_ADDRESS_LENGTH", "normalize_address"]

MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3 (a path of 256 less the angle brackets)
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TOP_LABEL = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")


def normalize_address(raw: str) -> str | None:
    """The address as stored (trimmed, domain in lower case and IDNA), or None when `raw` is
    not an address this service will send to."""
    candidate = raw.strip()
    if not candidate or len(candidate) > MAX_ADDRESS_LENGTH or candidate.count("@") != 1:
        return None
    local, domain = candidate.split("@")
    if not 1 <= len(local) <= 64 or not _LOCAL.fullmatch(local):
        return None
    try:
        ascii_domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if not _TOP_LABEL.fullmatch(labels[-1]):
        return None
    address = f"{local}@{ascii_domain}"
    return address if len(address) <= MAX_ADDRESS_LENGTH else None
