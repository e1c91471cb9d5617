"""The logg API on the wire: request and response bodies shared by logg and its clients.

Strict decoding everywhere (`forbid_unknown_fields`), bounded sizes, and no plaintext: what
describes a child or a concern travels only inside a `SealedEnvelope`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

from shared.crypto.envelope import SealedEnvelope

__all__ = [
    "ENTRY_TYPES",
    "EntryPage",
    "EntryType",
    "EntryView",
    "KeyGrantView",
    "NewEntry",
    "NewKeyGrant",
    "NewParticipant",
    "NewStafettlogg",
    "ParticipantKind",
    "ParticipantRole",
    "ParticipantView",
    "StafettloggPage",
    "StafettloggStatus",
    "StafettloggView",
]

EntryType = Literal[
    "concern",
    "observation",
    "goal",
    "measure",
    "evaluation",
    "meeting",
    "minutes",
    "message",
    "handover",
    "closing_note",
]
ENTRY_TYPES: tuple[str, ...] = get_args(EntryType)
ParticipantKind = Literal["person", "service"]
ParticipantRole = Literal["coordinator", "writer", "reader"]
StafettloggStatus = Literal["open", "closed"]

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
WrappedKey = Annotated[bytes, msgspec.Meta(min_length=32, max_length=4096)]
MAX_PAGE = 100


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class NewParticipant(_Strict, frozen=True, forbid_unknown_fields=True):
    kind: ParticipantKind
    principal_id: Id  # a person's internal subject, or a service unit's id
    role: ParticipantRole


class NewKeyGrant(_Strict, frozen=True, forbid_unknown_fields=True):
    """The log's epoch key wrapped (HPKE) for one participant; see shared.crypto.hpke."""

    epoch: Annotated[int, msgspec.Meta(ge=1)]
    recipient_kind: ParticipantKind
    recipient_id: Id
    wrapped_key: WrappedKey


class NewStafettlogg(_Strict, frozen=True, forbid_unknown_fields=True):
    """Create a log. The caller becomes its coordinator; `key_grants` must include one for them."""

    id: Id  # chosen by the client, so that a retry creates nothing twice
    sealed_description: SealedEnvelope
    key_grants: Annotated[list[NewKeyGrant], msgspec.Meta(min_length=1, max_length=200)]
    participants: Annotated[list[NewParticipant], msgspec.Meta(max_length=200)] = []


class NewParticipantRequest(_Strict, frozen=True, forbid_unknown_fields=True):
    participant: NewParticipant
    key_grants: Annotated[list[NewKeyGrant], msgspec.Meta(min_length=1, max_length=1000)]


class NewEntry(_Strict, frozen=True, forbid_unknown_fields=True):
    sealed: SealedEnvelope


class ParticipantView(_Strict, frozen=True, forbid_unknown_fields=True):
    kind: ParticipantKind
    principal_id: str
    role: ParticipantRole
    added_at: datetime


class KeyGrantView(_Strict, frozen=True, forbid_unknown_fields=True):
    epoch: int
    recipient_kind: ParticipantKind
    recipient_id: str
    wrapped_key: bytes


class StafettloggView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str
    status: StafettloggStatus
    level: int
    current_epoch: int
    created_at: datetime
    sealed_description: SealedEnvelope
    participants: list[ParticipantView]
    key_grants: list[KeyGrantView]  # only the grants the caller can open


class StafettloggPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[StafettloggView]
    next_cursor: str | None = None


class EntryView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str
    sealed: SealedEnvelope
    stored_at: datetime


class EntryPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[EntryView]
    next_cursor: str | None = None
