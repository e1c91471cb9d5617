"""Sealing and opening what a person writes, with `shared.crypto` only.

Plaintext formats (UTF-8 JSON inside the envelope, see docs/crypto.md for the envelope):

- a log's description, header type "description", entry id = the log's id:
  `{"child_name": str, "child_birth_date": "YYYY-MM-DD", "title": str}`;
- an entry, header type one of `shared.wire.ENTRY_TYPES` or `level_change`: one JSON object per
  type, `{"v": 1, ...}`, exactly as docs/crypto.md lists them (`services.portal.entry_bodies`).
  Entries written before the versioned formats (`{"text": str}`) still open, as `LegacyBody`.

Opening guarantees: the plaintext was signed by the key the caller passes as the author's (which
the caller must take from auth's directory for `header.author`), sealed under an epoch key the
reader was granted, and belongs to this log and this entry id. It does not guarantee that the
author was allowed to write: logg decides that.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519

from services.portal.entry_bodies import (
    SEALABLE_TYPES,
    EntryBody,
    body_for_text,
    decode_body,
    encode_body,
)
from shared.crypto.envelope import (
    EnvelopeError,
    EnvelopeHeader,
    SealedEnvelope,
    open_envelope,
    seal_envelope,
)
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key, wrap_epoch_key
from shared.crypto.keys import ParticipantKeys, PublicKeys
from shared.wire import EntryView, NewKeyGrant, ParticipantKind, StafettloggView

__all__ = [
    "DESCRIPTION_TYPE",
    "Description",
    "EntryBody",
    "OpenError",
    "grant_epoch_key",
    "open_description",
    "open_entry",
    "open_epoch_keys",
    "seal_description",
    "seal_entry",
    "utc_timestamp",
]

DESCRIPTION_TYPE = "description"


class OpenError(Exception):
    """A sealed description or entry could not be opened or is not what it claims to be."""


class Description(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    child_name: str
    child_birth_date: str  # YYYY-MM-DD
    title: str


def utc_timestamp(now: datetime | None = None) -> str:
    """RFC 3339 in UTC to the second, like 2026-11-22T10:00:00Z."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seal_description(
    stafettlogg_id: str,
    description: Description,
    *,
    epoch_key: bytes,
    author: str,
    author_keys: ParticipantKeys,
    created_at: str,
) -> SealedEnvelope:
    """Seal a new log's description under its first epoch key, signed by its creator."""
    header = EnvelopeHeader(
        version=1,
        stafettlogg_id=stafettlogg_id,
        entry_id=stafettlogg_id,
        epoch=1,
        author=author,
        type=DESCRIPTION_TYPE,
        created_at=created_at,
    )
    return seal_envelope(
        msgspec.json.encode(description),
        header=header,
        epoch_key=epoch_key,
        author_key=author_keys.signing_key(),
    )


def seal_entry(
    stafettlogg_id: str,
    entry_id: str,
    entry_type: str,
    body: EntryBody | str,
    *,
    epoch: int,
    epoch_key: bytes,
    author: str,
    author_keys: ParticipantKeys,
    created_at: str,
) -> SealedEnvelope:
    """Seal an entry under the log's current epoch key, signed by its author. `body` must be
    the plaintext object for `entry_type` (a bare string is the `text` of a text-only type).
    Raises ValueError for an unknown type or a body of another type."""
    if entry_type not in SEALABLE_TYPES:
        raise ValueError("unknown entry type")
    if isinstance(body, str):
        body = body_for_text(entry_type, body)
    header = EnvelopeHeader(
        version=1,
        stafettlogg_id=stafettlogg_id,
        entry_id=entry_id,
        epoch=epoch,
        author=author,
        type=entry_type,
        created_at=created_at,
    )
    return seal_envelope(
        encode_body(entry_type, body),
        header=header,
        epoch_key=epoch_key,
        author_key=author_keys.signing_key(),
    )


def grant_epoch_key(
    stafettlogg_id: str,
    epoch: int,
    epoch_key: bytes,
    *,
    recipient_kind: ParticipantKind,
    recipient_id: str,
    recipient_public: PublicKeys,
) -> NewKeyGrant:
    """Wrap one epoch key (HPKE) for one participant, bound to this log, epoch and recipient."""
    context = KeyGrantContext(stafettlogg_id, epoch, recipient_kind, recipient_id)
    return NewKeyGrant(
        epoch=epoch,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        wrapped_key=wrap_epoch_key(epoch_key, recipient_public, context),
    )


def open_epoch_keys(
    view: StafettloggView,
    *,
    subject: str,
    keys: ParticipantKeys,
    service_id: str | None = None,
    service_keys: ParticipantKeys | None = None,
) -> dict[int, bytes]:
    """The epoch keys the reader can open: grants to them as a person, or to their service.
    Grants that do not open (moved, altered, for someone else) are skipped."""
    epoch_keys: dict[int, bytes] = {}
    for grant in view.key_grants:
        if grant.recipient_kind == "person" and grant.recipient_id == subject:
            own_keys = keys
        elif (
            grant.recipient_kind == "service"
            and service_id is not None
            and grant.recipient_id == service_id
            and service_keys is not None
        ):
            own_keys = service_keys
        else:
            continue
        context = KeyGrantContext(view.id, grant.epoch, grant.recipient_kind, grant.recipient_id)
        try:
            epoch_keys[grant.epoch] = unwrap_epoch_key(grant.wrapped_key, own_keys, context)
        except (InvalidTag, ValueError):
            continue
    return epoch_keys


def _open(
    envelope: SealedEnvelope, epoch_keys: dict[int, bytes], author_public: PublicKeys
) -> bytes:
    epoch_key = epoch_keys.get(envelope.header.epoch)
    if epoch_key is None:
        raise OpenError("no key for this epoch")
    try:
        signing_key: ed25519.Ed25519PublicKey = author_public.signing_key()
        return open_envelope(envelope, epoch_key=epoch_key, author_public=signing_key)
    except (EnvelopeError, ValueError) as error:
        raise OpenError("the envelope does not open") from error


def open_description(
    view: StafettloggView, epoch_keys: dict[int, bytes], author_public: PublicKeys
) -> Description:
    """Open a log's description; it must be this log's, of type description."""
    envelope = view.sealed_description
    header = envelope.header
    if (
        header.stafettlogg_id != view.id
        or header.entry_id != view.id
        or header.type != DESCRIPTION_TYPE
    ):
        raise OpenError("the description belongs elsewhere")
    plaintext = _open(envelope, epoch_keys, author_public)
    try:
        return msgspec.json.decode(plaintext, type=Description)
    except msgspec.DecodeError as error:
        raise OpenError("the description is not readable") from error


def open_entry(
    stafettlogg_id: str,
    entry: EntryView,
    epoch_keys: dict[int, bytes],
    author_public: PublicKeys,
) -> EntryBody:
    """Open one entry; it must belong to this log, carry its own id and a known type, and its
    plaintext must be that type's object (docs/crypto.md). It does not check the clear
    `refers_to`/`due_on` against the sealed copy: `services.portal.timeline` does."""
    header = entry.sealed.header
    if (
        header.stafettlogg_id != stafettlogg_id
        or header.entry_id != entry.id
        or header.type not in SEALABLE_TYPES
    ):
        raise OpenError("the entry belongs elsewhere")
    plaintext = _open(entry.sealed, epoch_keys, author_public)
    try:
        return decode_body(header.type, plaintext)
    except ValueError as error:
        raise OpenError("the entry is not readable") from error
