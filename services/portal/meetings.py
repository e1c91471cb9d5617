"""Meeting invitations: who a meeting invites, who has answered what, and whether the viewer is
asked to answer. Pure: it reads entries already opened (`LogIndex`) and does no crypto and no
calls; `StafettloggService` reads the meetings and the answers that refer to them.

A meeting names its invitees by participant key (`MeetingBody.invited_keys`). An answer is an
entry of type `meeting_response` that refers to the meeting; it says which invitee it answers
for: a person answers for themself, a service contact for their service unit. An answer that
claims to be for another person is not counted (the author signed it, so it is still shown in
the timeline, with their name). The newest answer per invitee counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from services.portal.entry_bodies import MeetingBody, MeetingResponseBody
from services.portal.forms import FormState
from services.portal.i18n import N_
from services.portal.norwegian import OSLO, format_datetime
from services.portal.timeline import LogIndex, OpenedEntry

__all__ = [
    "MAX_COMMENT",
    "MEETING_RESPONSE",
    "MeetingAnswer",
    "MeetingInvitation",
    "attending",
    "check_answer_form",
    "meeting_invitations",
    "viewer_keys",
]

MEETING_RESPONSE = "meeting_response"
MAX_COMMENT = 1000
_ANSWERS = {"ja": True, "nei": False}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class MeetingAnswer:
    invitee: str  # the invited person's or service's name
    author_name: str  # who answered (for a service: one of its contacts)
    attending: bool
    comment: str
    time_label: str


@dataclass(slots=True)
class MeetingInvitation:
    meeting_id: str
    starts_label: str
    viewer_key: str | None  # what the viewer is invited as; None: not invited
    can_answer: bool  # invited, may write in the log, and the meeting has not been yet
    own: MeetingAnswer | None = None  # the newest answer for what the viewer is invited as
    answers: list[MeetingAnswer] = field(default_factory=list)  # in the order invited
    waiting: list[str] = field(default_factory=list)  # names of invitees with no answer yet

    @property
    def invited(self) -> bool:
        return self.viewer_key is not None


def viewer_keys(subject: str, service_id: str | None) -> tuple[str, ...]:
    """The participant keys the viewer answers as: themself first, then their service."""
    keys = [f"person:{subject}"]
    if service_id is not None:
        keys.append(f"service:{service_id}")
    return tuple(keys)


def _meeting_date(body: MeetingBody) -> date | None:
    try:
        return datetime.fromisoformat(body.starts_at).astimezone(OSLO).date()
    except ValueError:
        return None


def _counts_for(answer: OpenedEntry, body: MeetingResponseBody, invited: list[str]) -> bool:
    """Whether an answer counts for the invitee it names: invited, and a person only by
    themself."""
    key = body.invited_key
    if key not in invited:
        return False
    return not key.startswith("person:") or key == f"person:{answer.author}"


def _answers_to(index: LogIndex, meeting_id: str) -> list[OpenedEntry]:
    found = [
        entry
        for entry in index.by_id.values()
        if isinstance(entry.body, MeetingResponseBody)
        and entry.body.meeting_id == meeting_id
        and entry.view.id not in index.mismatched
    ]
    return sorted(found, key=lambda entry: (entry.created_at, entry.view.stored_at), reverse=True)


def meeting_invitations(
    index: LogIndex,
    meeting_ids: Iterable[str],
    *,
    viewer_as: tuple[str, ...],
    people: Mapping[str, str],
    may_write: bool,
    today: date,
) -> dict[str, MeetingInvitation]:
    """The invitation of each of these meetings that the index holds opened, by meeting id.

    `viewer_as`: `viewer_keys` of the viewer; `people`: participant key → name (for invitees
    no longer taking part the meeting's own list of names is used); `may_write`: the viewer
    may write in the log now (open, a writer, holding the current key)."""
    invitations: dict[str, MeetingInvitation] = {}
    for meeting_id in dict.fromkeys(meeting_ids):
        meeting = index.by_id.get(meeting_id)
        if meeting is None or meeting_id in index.mismatched:
            continue
        body = meeting.body
        if not isinstance(body, MeetingBody):
            continue
        invited = list(dict.fromkeys(body.invited_keys))
        names = dict(zip(body.invited_keys, body.invited, strict=False))
        viewer_key = next((key for key in viewer_as if key in invited), None)
        held_on = _meeting_date(body)
        invitation = MeetingInvitation(
            meeting_id=meeting_id,
            starts_label=format_datetime(body.starts_at, weekday=True),
            viewer_key=viewer_key,
            can_answer=viewer_key is not None
            and may_write
            and held_on is not None
            and held_on >= today,
        )
        newest: dict[str, MeetingAnswer] = {}
        for answer in _answers_to(index, meeting_id):
            answer_body = answer.body
            assert isinstance(answer_body, MeetingResponseBody)
            key = answer_body.invited_key
            if key in newest or not _counts_for(answer, answer_body, invited):
                continue
            newest[key] = MeetingAnswer(
                invitee=people.get(key) or names.get(key, ""),
                author_name=answer.author_name,
                attending=answer_body.attending,
                comment=answer_body.text,
                time_label=format_datetime(answer.created_at),
            )
        invitation.answers = [newest[key] for key in invited if key in newest]
        invitation.waiting = [
            people.get(key) or names.get(key, "") for key in invited if key not in newest
        ]
        invitation.own = newest.get(viewer_key) if viewer_key is not None else None
        invitations[meeting_id] = invitation
    return invitations


def check_answer_form(form: Mapping[str, object]) -> FormState:
    """The answer (`svar`: ja | nei) and an optional comment (`kommentar`), with what was typed
    kept; the messages are for `_()` in the template."""
    answer = form.get("svar")
    raw_comment = form.get("kommentar", "")
    comment = raw_comment if isinstance(raw_comment, str) else ""
    comment = " ".join(_CONTROL.sub(" ", comment).split())
    checked = FormState(values={"svar": answer if answer in _ANSWERS else "", "kommentar": comment})
    if not isinstance(answer, str) or answer not in _ANSWERS:
        checked.errors["svar"] = N_("Velg «Jeg kommer» eller «Jeg kommer ikke».")
    if len(comment) > MAX_COMMENT:
        checked.errors["kommentar"] = N_("Kommentaren kan være høyst 1000 tegn.")
    return checked


def attending(form: FormState) -> bool:
    """What a checked answer form says: «Jeg kommer» (True) or «Jeg kommer ikke» (False)."""
    return _ANSWERS[form.values["svar"]]
