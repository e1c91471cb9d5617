"""The plaintext sealed inside each entry, one JSON object per entry type (docs/crypto.md,
"Sealed plaintext per entry type", version 1).

Decoding is strict (unknown fields refused, `v` must be 1) so that what a reader shows is exactly
what the author sealed. Entries written before the versioned formats were `{"text": str}`; they
still open, as `LegacyBody`, and are shown as plain text.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from shared.wire import ENTRY_TYPES, LEVEL_CHANGE_TYPE

__all__ = [
    "MEASURE_STATUSES",
    "OUTCOMES",
    "SEALABLE_TYPES",
    "TEXT_TYPES",
    "CorrectionBody",
    "EntryBody",
    "EvaluationBody",
    "LegacyBody",
    "LevelChangeBody",
    "MeasureBody",
    "MeetingBody",
    "MeetingResponseBody",
    "MinutesBody",
    "ObservationBody",
    "TextBody",
    "body_for_text",
    "decode_body",
    "encode_body",
]

MeasureStatus = Literal["planned", "active", "done", "stopped"]
Outcome = Literal["continue", "change", "end"]
MEASURE_STATUSES: tuple[str, ...] = ("planned", "active", "done", "stopped")
OUTCOMES: tuple[str, ...] = ("continue", "change", "end")
SEALABLE_TYPES: frozenset[str] = frozenset({*ENTRY_TYPES, LEVEL_CHANGE_TYPE})
# Types whose plaintext is only `{v, text}`.
TEXT_TYPES: frozenset[str] = frozenset({"concern", "goal", "message", "handover", "closing_note"})


class _Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    v: Literal[1] = 1


class TextBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """concern, goal, message, handover, closing_note."""

    text: str


class ObservationBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: str
    kind: Literal["observation", "highlight"] = "observation"  # a highlight is a lysglimt


class MeasureBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: str
    goal_id: str | None  # clear as refers_to
    responsible: str
    start_on: str | None  # YYYY-MM-DD
    evaluate_on: str  # YYYY-MM-DD, clear as due_on
    status: MeasureStatus


class EvaluationBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: str
    measure_id: str  # clear as refers_to
    outcome: Outcome


class MeetingBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    starts_at: str  # RFC 3339 with the local offset; its date is clear as due_on
    place: str
    invited: list[str]
    agenda: list[str]
    # Who is invited, as participant keys ("person:<subject>", "service:<id>"), in the order of
    # `invited` (names); they are asked to answer. Meetings sealed before it invite no one by key.
    invited_keys: list[str] = []


class MeetingResponseBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An invited participant's answer to a meeting; the author is who answered."""

    meeting_id: str  # clear as refers_to
    invited_key: str  # the invitee answered for: the author ("person:<subject>") or their service
    attending: bool
    text: str = ""  # an optional comment


class MinutesBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: str
    meeting_id: str | None = None  # clear as refers_to
    present: list[str] = []


class CorrectionBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: str
    corrects: str  # clear as refers_to


class LevelChangeBody(_Body, frozen=True, forbid_unknown_fields=True, kw_only=True):
    from_level: int
    to_level: int
    reason: str


class LegacyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`{"text": str}`, what the portal sealed before the versioned formats."""

    text: str


EntryBody: TypeAlias = (
    TextBody
    | ObservationBody
    | MeasureBody
    | EvaluationBody
    | MeetingBody
    | MinutesBody
    | MeetingResponseBody
    | CorrectionBody
    | LevelChangeBody
    | LegacyBody
)

_BODY_TYPES: dict[str, type[EntryBody]] = {
    **dict.fromkeys(TEXT_TYPES, TextBody),
    "observation": ObservationBody,
    "measure": MeasureBody,
    "evaluation": EvaluationBody,
    "meeting": MeetingBody,
    "minutes": MinutesBody,
    "meeting_response": MeetingResponseBody,
    "correction": CorrectionBody,
    LEVEL_CHANGE_TYPE: LevelChangeBody,
}


def body_for_text(entry_type: str, text: str) -> EntryBody:
    """The body of a text-only type (or an observation) holding just `text`."""
    if entry_type in TEXT_TYPES:
        return TextBody(text=text)
    if entry_type == "observation":
        return ObservationBody(text=text)
    raise ValueError("this entry type needs more than a text")


def encode_body(entry_type: str, body: EntryBody) -> bytes:
    """The plaintext to seal. Raises ValueError when `body` is not `entry_type`'s object."""
    if type(body) is not _BODY_TYPES.get(entry_type):
        raise ValueError("the body does not fit the entry type")
    return msgspec.json.encode(body)


def decode_body(entry_type: str, plaintext: bytes) -> EntryBody:
    """The body sealed for `entry_type`, strictly; raises ValueError when it is not one."""
    body_type = _BODY_TYPES.get(entry_type)
    if body_type is None:
        raise ValueError("unknown entry type")
    try:
        return msgspec.json.decode(plaintext, type=body_type)
    except msgspec.ValidationError:
        try:
            return msgspec.json.decode(plaintext, type=LegacyBody)
        except msgspec.DecodeError as error:
            raise ValueError("the plaintext is not this type's object") from error
    except msgspec.DecodeError as error:
        raise ValueError("the plaintext is not JSON") from error
