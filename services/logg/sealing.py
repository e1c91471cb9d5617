"""What logg checks about a sealed envelope before it stores it.

logg cannot open an envelope, but it can refuse one that is not what the caller claims: a header
for another log, epoch or author, an unknown type, an implausible time, or a signature that the
caller's own signing key (vouched for by auth in the token) did not make.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.crypto.envelope import (
    ENVELOPE_VERSION,
    MAX_CIPHERTEXT,
    EnvelopeError,
    SealedEnvelope,
    verify_envelope_signature,
)
from shared.problems import ProblemError

__all__ = [
    "MAX_CLOCK_SKEW",
    "check_envelope",
    "decode_sealed",
    "encode_sealed",
    "parse_rfc3339",
]

MAX_CLOCK_SKEW = timedelta(minutes=10)
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
_MAX_WRAPPED_ENTRY_KEY = 256
_SIGNATURE_LEN = 64
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SealedEnvelope)


def encode_sealed(envelope: SealedEnvelope) -> bytes:
    """The stored form of an envelope (msgpack): equal envelopes give equal bytes."""
    return _encoder.encode(envelope)


def decode_sealed(stored: bytes) -> SealedEnvelope:
    return _decoder.decode(stored)


def parse_rfc3339(value: str) -> datetime | None:
    """A timezone-aware UTC datetime from an RFC 3339 date-time, or None if it is not one."""
    if not _RFC3339.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def check_envelope(
    envelope: SealedEnvelope,
    *,
    stafettlogg_id: str,
    epoch: int,
    author: str,
    types: Collection[str],
    author_key: ed25519.Ed25519PublicKey,
    now: datetime | None = None,
    max_ciphertext: int = MAX_CIPHERTEXT,
) -> datetime:
    """Check a sealed envelope against what the request says it is, and return its header time.

    Guarantees when it returns: the header names exactly this log, epoch and author, a known
    type, a valid entry id and an RFC 3339 time (within `MAX_CLOCK_SKEW` of `now` when `now` is
    given); the parts are of sane size; and `author_key` signed header, wrapped key and
    ciphertext together. It cannot tell whether the ciphertext opens: no key here can open it.
    Raises ProblemError (400, or 413 for an oversized ciphertext).
    """
    header = envelope.header
    if header.version != ENVELOPE_VERSION:
        raise _mismatch("The envelope version is not supported")
    if header.stafettlogg_id != stafettlogg_id:
        raise _mismatch("The header names another stafettlogg")
    if header.author != author:
        raise _mismatch("The header's author must be you")
    if header.epoch != epoch:
        raise ProblemError(
            400,
            "wrong-epoch",
            "The entry is not sealed under the current epoch",
            f"Seal it under epoch {epoch}",
        )
    if header.type not in types:
        raise _mismatch("The header's type is not one this stafettlogg accepts")
    if not _ID_PATTERN.match(header.entry_id):
        raise _mismatch("The header's entry_id must be 1 to 64 of A-Z, a-z, 0-9, _ and -")
    created_at = parse_rfc3339(header.created_at)
    if created_at is None:
        raise _mismatch("The header's created_at must be an RFC 3339 date-time")
    if now is not None and abs(created_at - now) > MAX_CLOCK_SKEW:
        raise ProblemError(
            400,
            "clock-skew",
            "The entry's time is too far from now",
            "created_at must be within 10 minutes of the server's clock",
        )
    if len(envelope.ciphertext) > max_ciphertext:
        raise ProblemError(413, "too-large", "The entry is too large")
    if len(envelope.wrapped_entry_key) > _MAX_WRAPPED_ENTRY_KEY:
        raise _mismatch("The wrapped entry key is too long")
    if len(envelope.signature) != _SIGNATURE_LEN:
        raise _invalid_signature()
    try:
        verify_envelope_signature(envelope, author_key)
    except EnvelopeError as error:
        raise _invalid_signature() from error
    return created_at


def _mismatch(detail: str) -> ProblemError:
    return ProblemError(400, "header-mismatch", "The envelope's header does not fit", detail)


def _invalid_signature() -> ProblemError:
    return ProblemError(
        400,
        "invalid-signature",
        "The envelope is not signed by you",
        "Sign the envelope with the signing key auth vouches for in your token",
    )
