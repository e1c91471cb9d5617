"""The timeline: opened entries turned into what a person reads, with the links between them.

Inputs are entries already opened (`OpenedEntry`); this module does no crypto. It checks every
entry's clear `refers_to`/`due_on` (what logg acts on) against the sealed copy: where they
differ, the entry shows a warning and neither copy is used for links or due dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from services.portal.entry_bodies import (
    CorrectionBody,
    EntryBody,
    EvaluationBody,
    LegacyBody,
    LevelChangeBody,
    MeasureBody,
    MeetingBody,
    MeetingResponseBody,
    MinutesBody,
    ObservationBody,
)
from services.portal.forms import EntryChoices
from services.portal.i18n import N_
from services.portal.norwegian import (
    MEASURE_STATUS_LABELS,
    OUTCOME_LABELS,
    TIMELINE_TYPE_LABELS,
    format_date,
    format_datetime,
)
from shared.wire import EntryView

__all__ = [
    "DUE_SOON_DAYS",
    "EntryLine",
    "LogIndex",
    "OpenedEntry",
    "build_index",
    "entry_line",
    "expected_clear",
    "unreadable_line",
]

DUE_SOON_DAYS = 14
_LABEL_LENGTH = 60
_OPEN_MEASURE = frozenset({"planned", "active"})
_OVERDUE = N_("Evaluering forfalt")
_ENTRY = N_("Oppføring")


@dataclass(frozen=True, slots=True)
class OpenedEntry:
    view: EntryView
    type: str
    author: str  # subject
    author_name: str
    created_at: str
    body: EntryBody


@dataclass(frozen=True, slots=True)
class Link:
    text: str  # «Rettet i», «Retter oppføringen fra» …
    entry_id: str
    label: str


@dataclass(frozen=True, slots=True)
class EntryLine:
    id: str
    opened: bool
    type: str
    type_label: str
    author_name: str
    time_label: str
    text: str
    details: list[tuple[str, str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # a meeting's agenda
    links: list[Link] = field(default_factory=list)
    highlight: bool = False
    due_notice: str | None = None  # «Evaluering forfalt» / «Evaluering snart»
    due_overdue: bool = False
    mismatch: bool = False
    can_correct: bool = False


@dataclass(slots=True)
class LogIndex:
    """What the entries a page read say about the links between them (services.portal.
    stafettlogger reads the page, the entries it refers to and those referring to it)."""

    by_id: dict[str, OpenedEntry] = field(default_factory=dict)
    mismatched: set[str] = field(default_factory=set)
    evaluated: set[str] = field(default_factory=set)  # measures with an evaluation
    corrected_by: dict[str, list[str]] = field(default_factory=dict)
    goals: list[tuple[str, str]] = field(default_factory=list)  # (id, label), newest first
    measures: list[tuple[str, str]] = field(default_factory=list)
    meetings: list[tuple[str, str]] = field(default_factory=list)
    correctable: list[tuple[str, str]] = field(default_factory=list)

    def choices(self, participants: dict[str, str]) -> EntryChoices:
        return EntryChoices(
            goal_ids=frozenset(i for i, _ in self.goals),
            measure_ids=frozenset(i for i, _ in self.measures),
            meeting_ids=frozenset(i for i, _ in self.meetings),
            correctable_ids=frozenset(i for i, _ in self.correctable),
            participants=participants,
        )

    def label(self, entry_id: str) -> str:
        entry = self.by_id.get(entry_id)
        return _short_label(entry) if entry is not None else N_("en oppføring")


def expected_clear(body: EntryBody) -> tuple[str | None, date | None]:
    """The `refers_to` and `due_on` logg should hold for this sealed body (docs/crypto.md)."""
    if isinstance(body, MeasureBody):
        return body.goal_id, _date(body.evaluate_on)
    if isinstance(body, EvaluationBody):
        return body.measure_id, None
    if isinstance(body, MeetingBody):
        starts = _datetime(body.starts_at)
        return None, starts.date() if starts is not None else None
    if isinstance(body, MinutesBody):
        return body.meeting_id, None
    if isinstance(body, MeetingResponseBody):
        return body.meeting_id, None
    if isinstance(body, CorrectionBody):
        return body.corrects, None
    return None, None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _main_text(body: EntryBody) -> str:
    if isinstance(body, MeetingBody):
        return body.place
    if isinstance(body, LevelChangeBody):
        return body.reason
    return body.text


def _short_label(entry: OpenedEntry) -> str:
    text = " ".join(_main_text(entry.body).split())
    if len(text) > _LABEL_LENGTH:
        text = text[: _LABEL_LENGTH - 1].rstrip() + "…"
    when = format_date(entry.created_at[:10])
    if isinstance(entry.body, MeetingBody):
        return N_("Møte %(time)s, %(text)s", time=format_datetime(entry.body.starts_at), text=text)
    kind = TIMELINE_TYPE_LABELS.get(entry.type, _ENTRY)
    return N_("%(kind)s %(day)s: %(text)s", kind=kind, day=when, text=text)


def build_index(
    entries: Iterable[OpenedEntry],
    viewer_subject: str,
    *,
    linkable: Sequence[str] = (),
    correctable: Sequence[str] = (),
) -> LogIndex:
    """Index the opened entries a page read (each once, in any order): labels, corrections and
    evaluations for links, and mismatched clear copies. The forms' choices come only from the
    ids named, in the order named: `linkable` for the goals, measures and meetings a new entry
    may point at, `correctable` for the entries the viewer may correct (those they wrote); an
    entry whose clear link or date differs from the sealed one is never a choice."""
    index = LogIndex()
    for entry in entries:
        index.by_id[entry.view.id] = entry
        refers_to, due_on = expected_clear(entry.body)
        if not isinstance(entry.body, LegacyBody) and (
            entry.view.refers_to != refers_to or entry.view.due_on != due_on
        ):
            index.mismatched.add(entry.view.id)
            continue
        if isinstance(entry.body, EvaluationBody):
            index.evaluated.add(entry.body.measure_id)
        if isinstance(entry.body, CorrectionBody):
            index.corrected_by.setdefault(entry.body.corrects, []).append(entry.view.id)
    for entry in _named(index, linkable):
        if entry.type == "goal":
            index.goals.append((entry.view.id, _short_label(entry)))
        elif entry.type == "measure":
            index.measures.append((entry.view.id, _short_label(entry)))
        elif entry.type == "meeting":
            index.meetings.append((entry.view.id, _short_label(entry)))
    for entry in _named(index, correctable):
        if entry.author == viewer_subject and entry.type != "level_change":
            index.correctable.append((entry.view.id, _short_label(entry)))
    return index


def _named(index: LogIndex, ids: Sequence[str]) -> Iterator[OpenedEntry]:
    """The indexed entries with these ids, each once, in order; none that is mismatched."""
    for entry_id in dict.fromkeys(ids):
        entry = index.by_id.get(entry_id)
        if entry is not None and entry_id not in index.mismatched:
            yield entry


def unreadable_line(view: EntryView) -> EntryLine:
    return EntryLine(
        id=view.id,
        opened=False,
        type="",
        type_label=_ENTRY,
        author_name="",
        time_label=format_datetime(view.stored_at),
        text="",
    )


def _details(body: EntryBody, index: LogIndex) -> tuple[list[tuple[str, str]], list[Link]]:
    details: list[tuple[str, str]] = []
    links: list[Link] = []
    if isinstance(body, MeasureBody):
        if body.goal_id:
            links.append(Link(N_("Mål:"), body.goal_id, index.label(body.goal_id)))
        details.append((N_("Ansvarlig"), body.responsible))
        if body.start_on:
            details.append((N_("Start"), format_date(body.start_on)))
        details.append((N_("Evalueres"), format_date(body.evaluate_on)))
        details.append((N_("Status"), MEASURE_STATUS_LABELS.get(body.status, body.status)))
    elif isinstance(body, EvaluationBody):
        links.append(Link(N_("Evaluering av"), body.measure_id, index.label(body.measure_id)))
        details.append((N_("Videre"), OUTCOME_LABELS.get(body.outcome, body.outcome)))
    elif isinstance(body, MeetingBody):
        details.append((N_("Tid"), format_datetime(body.starts_at)))
        details.append((N_("Sted"), body.place))
        if body.invited:
            details.append((N_("Invitert"), ", ".join(body.invited)))
    elif isinstance(body, MinutesBody):
        if body.meeting_id:
            links.append(Link(N_("Referat fra"), body.meeting_id, index.label(body.meeting_id)))
        if body.present:
            details.append((N_("Til stede"), ", ".join(body.present)))
    elif isinstance(body, MeetingResponseBody):
        links.append(Link(N_("Svar på"), body.meeting_id, index.label(body.meeting_id)))
        details.append((N_("Svar"), N_("Kommer") if body.attending else N_("Kommer ikke")))
    elif isinstance(body, CorrectionBody):
        links.append(Link(N_("Retter oppføringen fra"), body.corrects, index.label(body.corrects)))
    elif isinstance(body, LevelChangeBody):
        details.append(
            (
                N_("Nivå"),
                N_(
                    "fra %(from_level)s til %(to_level)s",
                    from_level=body.from_level,
                    to_level=body.to_level,
                ),
            )
        )
    return details, links


def _due_notice(body: MeasureBody, entry_id: str, index: LogIndex, today: date) -> str | None:
    evaluate_on = _date(body.evaluate_on)
    if evaluate_on is None or body.status not in _OPEN_MEASURE or entry_id in index.evaluated:
        return None
    if evaluate_on < today:
        return _OVERDUE
    if evaluate_on <= today + timedelta(days=DUE_SOON_DAYS):
        return N_("Evaluering snart")
    return None


def entry_line(entry: OpenedEntry, index: LogIndex, viewer_subject: str, today: date) -> EntryLine:
    """One opened entry as the timeline shows it."""
    body = entry.body
    mismatch = entry.view.id in index.mismatched
    details, links = _details(body, index)
    due_notice = None
    if mismatch:
        links = []
    else:
        if isinstance(body, MeasureBody):
            due_notice = _due_notice(body, entry.view.id, index, today)
        links += [
            Link(N_("Rettet i"), correction, index.label(correction))
            for correction in index.corrected_by.get(entry.view.id, [])
        ]
    return EntryLine(
        id=entry.view.id,
        opened=True,
        type=entry.type,
        type_label=TIMELINE_TYPE_LABELS.get(entry.type, _ENTRY),
        author_name=entry.author_name,
        time_label=format_datetime(entry.created_at),
        text="" if isinstance(body, MeetingBody) else _main_text(body),
        details=details,
        items=body.agenda if isinstance(body, MeetingBody) else [],
        links=links,
        highlight=isinstance(body, ObservationBody) and body.kind == "highlight",
        due_notice=due_notice,
        due_overdue=due_notice is _OVERDUE,
        mismatch=mismatch,
        can_correct=entry.author == viewer_subject and entry.type != "level_change",
    )
