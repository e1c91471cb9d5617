"""The logg API on the wire: request and response bodies shared by logg and its clients.

Strict decoding everywhere (`forbid_unknown_fields`), bounded sizes, and no plaintext: what
describes a child or a concern travels only inside a `SealedEnvelope`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, get_args

import msgspec

from shared.crypto.envelope import SealedEnvelope

__all__ = [
    "CONSENT_SCAN_TYPE",
    "CONSENT_SCOPES",
    "ENTRY_TYPES",
    "LEVEL_CHANGE_TYPE",
    "MAX_ENTRY_FILTER_IDS",
    "MAX_EPOCH_GRANTS",
    "AccessDecision",
    "AccessRecordPage",
    "AccessRecordView",
    "ClosingRequest",
    "ConsentMethod",
    "ConsentPage",
    "ConsentScope",
    "ConsentStatus",
    "ConsentView",
    "DueMeasurePage",
    "DueMeasureView",
    "EntryPage",
    "EntryType",
    "EntryView",
    "EpochRecipient",
    "EpochStatus",
    "ErasureCounts",
    "ErasureReport",
    "ErasureRequest",
    "ErasureScope",
    "FeedDueMeasure",
    "FeedDueMeasurePage",
    "FeedEntry",
    "FeedEntryPage",
    "FeedRecipient",
    "HandoverAcceptance",
    "HandoverStatus",
    "HandoverView",
    "KeptRecord",
    "KeyGrantView",
    "LevelChangePage",
    "LevelChangeRequest",
    "LevelChangeView",
    "NewConsent",
    "NewEntry",
    "NewEpoch",
    "NewHandover",
    "NewKeyGrant",
    "NewKeyGrants",
    "NewParticipant",
    "NewStafettlogg",
    "ParticipantKind",
    "ParticipantPage",
    "ParticipantRole",
    "ParticipantView",
    "SignedAccessHead",
    "StafettloggPage",
    "StafettloggStatus",
    "StafettloggView",
    "WithdrawalRequest",
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
    "correction",
    "meeting_response",  # an invited participant's answer to a meeting: refers_to the meeting
]
ENTRY_TYPES: tuple[str, ...] = get_args(EntryType)  # what POST .../entries accepts
# The sealed reason for a change of BTI level: an entry in the timeline, written only through
# POST .../level (so it is not in ENTRY_TYPES).
LEVEL_CHANGE_TYPE = "level_change"
CONSENT_SCAN_TYPE = "consent_scan"  # the sealed scan of a consent (or withdrawal) given on paper
# What a consent covers. logg records the scope; it cannot see what an entry is about.
ConsentScope = Literal["all", "health", "school", "welfare"]
CONSENT_SCOPES: tuple[str, ...] = get_args(ConsentScope)
ConsentStatus = Literal["given", "refused", "withdrawn"]
ConsentMethod = Literal["portal", "paper"]
HandoverStatus = Literal["proposed", "accepted", "superseded"]
AccessDecision = Literal["allowed", "denied"]
ParticipantKind = Literal["person", "service"]
ParticipantRole = Literal["coordinator", "writer", "reader"]
StafettloggStatus = Literal["open", "closed"]

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Level = Annotated[int, msgspec.Meta(ge=0, le=3)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
WrappedKey = Annotated[bytes, msgspec.Meta(min_length=32, max_length=4096)]
MAX_PAGE = 100
MAX_ENTRY_FILTER_IDS = 100  # entry ids in one `id` or `refers_to` filter of GET .../entries


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class NewParticipant(_Strict, frozen=True, forbid_unknown_fields=True):
    kind: ParticipantKind
    principal_id: Id  # a person's internal subject, or a service unit's id
    role: ParticipantRole
    # The young person themself (kind person, role writer). logg holds no birth date: the
    # coordinator declares that the municipality's age limit (15 or 16) is met, and logg records
    # who declared it and when.
    youth: bool = False


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
    """A sealed entry, and the little logg must see in clear to act on it: the entry it refers to
    (a correction's original, an evaluation's measure, minutes' meeting) and the date a measure is
    evaluated or a meeting held. Both are repeated inside the sealed plaintext (docs/crypto.md)."""

    sealed: SealedEnvelope
    refers_to: Id | None = None
    due_on: date | None = None


class ParticipantView(_Strict, frozen=True, forbid_unknown_fields=True):
    kind: ParticipantKind
    principal_id: str
    role: ParticipantRole
    added_at: datetime
    youth: bool = False
    youth_declared_by: str | None = None  # the coordinator who declared the age limit met


class KeyGrantView(_Strict, frozen=True, forbid_unknown_fields=True):
    epoch: int
    recipient_kind: ParticipantKind
    recipient_id: str
    wrapped_key: bytes


class HandoverView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str
    from_subject: str
    to_subject: str
    status: HandoverStatus
    proposed_at: datetime
    accepted_at: datetime | None = None


class StafettloggView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str
    status: StafettloggStatus
    level: int
    current_epoch: int
    created_at: datetime
    sealed_description: SealedEnvelope
    participants: list[ParticipantView]
    key_grants: list[KeyGrantView]  # only the grants the caller can open
    coordinator: str | None = None  # the subject holding the baton now
    level_changed_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    closing_note_id: str | None = None  # the entry of type closing_note
    pending_handover: HandoverView | None = None


class StafettloggPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[StafettloggView]
    next_cursor: str | None = None


class EntryView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str
    sealed: SealedEnvelope
    stored_at: datetime
    refers_to: str | None = None
    due_on: date | None = None


class EntryPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[EntryView]
    next_cursor: str | None = None


class DueMeasureView(_Strict, frozen=True, forbid_unknown_fields=True):
    """A measure whose evaluation date (`entry.due_on`) has passed or is near and that no
    evaluation refers to yet, in one of the caller's logs (GET /tiltak/forfall)."""

    stafettlogg_id: str
    entry: EntryView


class DueMeasurePage(_Strict, frozen=True, forbid_unknown_fields=True):
    """Due measures, earliest evaluation date first, with the logs they belong to (each once,
    with the caller's key grants) so that a reader can open them without another call."""

    items: list[DueMeasureView]
    stafettlogger: list[StafettloggView]
    next_cursor: str | None = None


class ParticipantPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[ParticipantView]
    next_cursor: str | None = None


Scopes = Annotated[list[ConsentScope], msgspec.Meta(min_length=1, max_length=4)]
MAX_SCAN_ENVELOPE = 7 * 1024 * 1024  # a 5 MiB scan, base64 on the wire


class NewConsent(_Strict, frozen=True, forbid_unknown_fields=True):
    """Record a consent (or a refusal, `status` refused) for one service unit.

    `method` portal: a guardian or the youth gives it themself; the giver is the caller and the
    login level (`acr`) comes from their token; no `given_by`, no `scan`.
    `method` paper: the coordinator records a form signed on paper: `given_by` names the
    guardian's (or youth's) subject, and `scan` is the form's scan sealed like an entry (header
    type `consent_scan`, entry_id = this consent's id), at most 5 MiB."""

    id: Id  # chosen by the client, so that a retry records nothing twice
    service_id: Id
    status: Literal["given", "refused"]
    scopes: Scopes
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    method: ConsentMethod = "portal"
    given_by: Id | None = None
    scan: SealedEnvelope | None = None
    # May the service read what was written before it got this consent (earlier key epochs)?
    # False unless the guardian says so (services.logg.consent, docs/crypto.md).
    history: bool = False


class WithdrawalRequest(_Strict, frozen=True, forbid_unknown_fields=True):
    """Withdraw a consent: in the portal by a guardian or the youth (`method` portal), or
    recorded by the coordinator from a paper withdrawal with its scan (`method` paper)."""

    method: ConsentMethod
    scan: SealedEnvelope | None = None


class ConsentView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str
    service_id: str
    status: ConsentStatus
    scopes: list[ConsentScope]
    valid_from: datetime
    valid_until: datetime
    method: ConsentMethod
    given_by: str
    recorded_by: str
    recorded_at: datetime
    acr: str | None = None  # the giver's login level, for consent given in the portal
    has_scan: bool = False
    valid_now: bool = False  # given, not withdrawn, and now within valid_from..valid_until
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    withdrawal_method: ConsentMethod | None = None
    history: bool = False  # the service may read earlier key epochs (NewConsent.history)


class ConsentPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[ConsentView]
    next_cursor: str | None = None


class LevelChangeRequest(_Strict, frozen=True, forbid_unknown_fields=True):
    """Set the BTI level. The reason is sealed (type `level_change`); its entry id is the
    change's id."""

    level: Level
    reason: SealedEnvelope


class LevelChangeView(_Strict, frozen=True, forbid_unknown_fields=True):
    id: str  # = the entry id of the sealed reason
    from_level: int
    to_level: int
    changed_by: str
    changed_at: datetime


class LevelChangePage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[LevelChangeView]
    next_cursor: str | None = None


class NewHandover(_Strict, frozen=True, forbid_unknown_fields=True):
    """The coordinator proposes to hand the baton to a staff person taking part in the log."""

    id: Id
    to_subject: Id


class HandoverAcceptance(_Strict, frozen=True, forbid_unknown_fields=True):
    handover_id: Id


class ClosingRequest(_Strict, frozen=True, forbid_unknown_fields=True):
    """Close the log with a closing note: sealed in this request, or the id of a closing_note
    entry already written. Exactly one of the two."""

    closing_note: SealedEnvelope | None = None
    closing_note_id: Id | None = None


class AccessRecordView(_Strict, frozen=True, forbid_unknown_fields=True):
    seq: int
    at: datetime
    subject: str
    caller_role: str  # guardian | staff, from the token
    service: str | None
    roles: list[str]  # the caller's roles in the log at the time
    action: str
    entry_id: str | None
    decision: AccessDecision
    reason: str
    record_hash: str  # hex SHA-256, chained over the log's records


class AccessRecordPage(_Strict, frozen=True, forbid_unknown_fields=True):
    items: list[AccessRecordView]
    next_cursor: str | None = None


class SignedAccessHead(_Strict, frozen=True, forbid_unknown_fields=True):
    """logg's signature (Ed25519) over the head of a log's access record chain."""

    stafettlogg_id: str
    seq: int
    head_hash: str  # hex
    signed_at: datetime
    key_id: str
    signature: bytes


MAX_EPOCH_GRANTS = 500  # one grant per remaining participant


class NewEpoch(_Strict, frozen=True, forbid_unknown_fields=True):
    """Start the log's next key epoch: `epoch` is the current one plus one, and `key_grants` hold
    a fresh epoch key wrapped for exactly the participants who remain (`EpochStatus.recipients`).
    Nothing already written is re-encrypted."""

    epoch: Annotated[int, msgspec.Meta(ge=2)]
    key_grants: Annotated[
        list[NewKeyGrant], msgspec.Meta(min_length=1, max_length=MAX_EPOCH_GRANTS)
    ]


class EpochRecipient(_Strict, frozen=True, forbid_unknown_fields=True):
    kind: ParticipantKind
    id: str


class EpochStatus(_Strict, frozen=True, forbid_unknown_fields=True):
    """A log's key epoch: the current one, whether a participant has left since it began (so no
    entry is accepted until the next), and who the next epoch's key must be wrapped for."""

    current_epoch: int
    rotation_required: bool
    recipients: list[EpochRecipient]


class NewKeyGrants(_Strict, frozen=True, forbid_unknown_fields=True):
    """Wrap the log's epoch keys for one participant who takes part but holds no grant for
    them: a service whose consent was given (again) after its grants were deleted. The current
    epoch always; earlier epochs only if the service's valid consent allows history."""

    recipient_kind: ParticipantKind
    recipient_id: Id
    key_grants: Annotated[
        list[NewKeyGrant], msgspec.Meta(min_length=1, max_length=MAX_EPOCH_GRANTS)
    ]


ErasureScope = Literal["stafettlogg", "entry"]
ErasureReason = Annotated[str, msgspec.Meta(min_length=10, max_length=500)]


class ErasureRequest(_Strict, frozen=True, forbid_unknown_fields=True):
    """Erase (crypto-shred) a whole closed log, or one entry of a log: an administrator of the
    municipality, with a reason that is kept (it must not name the child)."""

    reason: ErasureReason


class ErasureCounts(_Strict, frozen=True, forbid_unknown_fields=True):
    """What was destroyed: key grants first, then the rows."""

    key_grants: int = 0
    entries: int = 0
    participants: int = 0
    consents: int = 0
    consent_scans: int = 0
    level_changes: int = 0
    handovers: int = 0


class KeptRecord(_Strict, frozen=True, forbid_unknown_fields=True):
    """One kind of record that was kept, how many, and the rule that keeps it."""

    what: str
    count: int
    why: str


class ErasureReport(_Strict, frozen=True, forbid_unknown_fields=True):
    """The erasure of a log or an entry: what was destroyed and what was kept, and why."""

    stafettlogg_id: str
    scope: ErasureScope
    erased_at: datetime
    erased_by: str
    reason: str
    deleted: ErasureCounts
    kept: list[KeptRecord]
    entry_id: str | None = None
    stafettlogg_created_at: datetime | None = None
    stafettlogg_closed_at: datetime | None = None


# --- logg's notification feed (services.logg.feed), read by auth's notifier -----------------------


class FeedRecipient(msgspec.Struct, frozen=True):
    kind: Literal["person", "service"]
    id: str


class FeedEntry(msgspec.Struct, frozen=True):
    seq: int
    stafettlogg_id: str
    entry_id: str
    author: str
    created_at: datetime
    recipients: list[FeedRecipient]


class FeedEntryPage(msgspec.Struct, frozen=True):
    """Entries after the cursor, oldest first; `cursor` is where the next call starts (the
    newest entry's position now, when called without `after`: start from now)."""

    items: list[FeedEntry]
    cursor: int
    more: bool


class FeedDueMeasure(msgspec.Struct, frozen=True):
    seq: int
    stafettlogg_id: str
    entry_id: str
    due_on: date
    recipients: list[FeedRecipient]


class FeedDueMeasurePage(msgspec.Struct, frozen=True):
    items: list[FeedDueMeasure]
    cursor: int
    more: bool
