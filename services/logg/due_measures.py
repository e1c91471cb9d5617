"""Measures due for evaluation across the caller's logs (GET /tiltak/forfall): those whose
evaluation date (`due_on`, in clear) has passed or comes within a few days, and that no
evaluation refers to yet, earliest date first, a cursor-paged list.

logg sees only what it needs for this: an entry's type, its `refers_to` and its `due_on`. It
cannot see a measure's sealed status, so a measure marked done without an evaluation is still
listed; the reader (the portal) opens the entry and may leave it out.

Access: the candidate logs are those the caller takes part in with the rule of
`services.logg.access` (a staff member only where they coordinate or their service holds valid
consent); then every log on the page passes `services.logg.guard.authorize`, the one gate, which
decides with `access.decide` and leaves an access record ("read-due-measures"). A log it refuses
is left out of the page, never shown.

Cost: one query for the page (an index range of (stafettlogg_id, type, due_on) per log the caller
takes part in, each measure's evaluation looked up in (stafettlogg_id, refers_to, seq)), then for
each log on the page the gate's query and record, and its view: O(logs on the page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar.params import Parameter
from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.entries import entry_view
from services.logg.guard import authorize, principal_of
from services.logg.models import (
    EntryRow,
    ParticipantRow,
    Principal,
    StafettloggRow,
    taking_part_clause,
)
from services.logg.paging import cut_page_by, invalid_cursor, open_cursor, seal_cursor
from services.logg.stafettlogger import stafettlogg_view
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import DueMeasurePage, DueMeasureView, StafettloggView

__all__ = [
    "DEFAULT_DAYS",
    "DueCursor",
    "DueDays",
    "DuePosition",
    "decode_due_cursor",
    "encode_due_cursor",
    "page_due_measures",
]

DEFAULT_DAYS = 7
MAX_DAYS = 60
_OSLO = ZoneInfo("Europe/Oslo")  # due dates are Norwegian calendar dates
_CURSOR_PREFIX = "d1:"
_POSITION = re.compile(r"^([0-9]{1,7}):([0-9]{1,18})$")

DueDays = Annotated[
    int,
    Parameter(
        ge=0,
        le=MAX_DAYS,
        description="Also measures due within this many days from today (Norwegian time)",
    ),
]
DueCursor = Annotated[
    str | None,
    Parameter(
        max_length=64,
        description="The `next_cursor` of the previous page; omit for the earliest due",
    ),
]


@dataclass(frozen=True, slots=True)
class DuePosition:
    """Where a page ends: the last measure's due date and seq (the list's order)."""

    due_on: date
    seq: int


def encode_due_cursor(position: DuePosition) -> str:
    return seal_cursor(f"{_CURSOR_PREFIX}{position.due_on.toordinal()}:{position.seq}")


def decode_due_cursor(cursor: str | None) -> DuePosition | None:
    """The position a cursor names, or None for the first page; a cursor this service did not
    make is a 400 problem."""
    if cursor is None:
        return None
    text = open_cursor(cursor, max_length=64)
    match = _POSITION.fullmatch(text.removeprefix(_CURSOR_PREFIX))
    if not text.startswith(_CURSOR_PREFIX) or match is None:
        raise invalid_cursor()
    try:
        due_on = date.fromordinal(int(match.group(1)))
    except ValueError as error:
        raise invalid_cursor() from error
    return DuePosition(due_on, int(match.group(2)))


def _taking_part(principal: Principal, *, consent_required: bool, now: datetime) -> Select[str]:
    """The ids of the open logs the principal takes part in, by the rule of
    `services.logg.access` (`models.taking_part_clause`)."""
    match = taking_part_clause(principal, consent_required=consent_required, now=now)
    # The caller's own rows first, found in the (kind, principal_id) index; `match` decides.
    own = [principal.person] + ([principal.service] if principal.service is not None else [])
    member = select(ParticipantRow.stafettlogg_id).where(
        ParticipantRow.kind.in_(("person", "service")),
        ParticipantRow.principal_id.in_(own),
        match,
    )
    return select(StafettloggRow.id).where(
        StafettloggRow.id.in_(member), StafettloggRow.status == "open"
    )


async def _due_rows(
    session: AsyncSession,
    claims: ServiceClaims,
    *,
    horizon: date,
    after: DuePosition | None,
    limit: int,
    policy: Policy,
) -> list[EntryRow]:
    evaluation = aliased(EntryRow)
    evaluated = exists().where(
        evaluation.stafettlogg_id == EntryRow.stafettlogg_id,
        evaluation.refers_to == EntryRow.id,
        # `|| ''` keeps the planner on (stafettlogg_id, refers_to): the entries that refer to
        # this measure are few; the log's evaluations may be many.
        evaluation.type.concat("") == "evaluation",
    )
    logs = _taking_part(
        principal_of(claims),
        consent_required=policy.consent_required and claims.role == "staff",
        now=datetime.now(UTC),
    )
    query = select(EntryRow).where(
        EntryRow.stafettlogg_id.in_(logs),
        EntryRow.type == "measure",
        EntryRow.due_on.is_not(None),
        EntryRow.due_on <= horizon,
        ~evaluated,
    )
    if after is not None:
        query = query.where(
            or_(
                EntryRow.due_on > after.due_on,
                and_(EntryRow.due_on == after.due_on, EntryRow.seq > after.seq),
            )
        )
    result = await session.execute(query.order_by(EntryRow.due_on, EntryRow.seq).limit(limit))
    return list(result.scalars().all())


async def page_due_measures(
    session: AsyncSession,
    claims: ServiceClaims,
    *,
    cursor: str | None,
    limit: int,
    days: int = DEFAULT_DAYS,
    today: date | None = None,
    policy: Policy = CONSENT_REQUIRED,
) -> DueMeasurePage:
    """The caller's measures due within `days` of `today` (default: today in Norway) or
    earlier, with no evaluation, earliest first, after `cursor`.

    Guarantees: every measure listed is in an open log that `access.decide` let the caller read
    now, and each such log got an access record; the logs are returned once each, with the
    caller's key grants only."""
    after = decode_due_cursor(cursor)
    if not 0 <= days <= MAX_DAYS:
        raise ProblemError(400, "invalid-days", "days is 0 to 60")
    horizon = (today or datetime.now(_OSLO).date()) + timedelta(days=days)
    rows = await _due_rows(
        session, claims, horizon=horizon, after=after, limit=limit + 1, policy=policy
    )
    page, next_cursor = cut_page_by(
        rows, limit, lambda row: encode_due_cursor(DuePosition(_due(row), row.seq))
    )
    allowed: dict[str, StafettloggRow] = {}
    for stafettlogg_id in dict.fromkeys(row.stafettlogg_id for row in page):
        try:
            gate = await authorize(
                session, claims, stafettlogg_id, Action.READ_DUE_MEASURES, policy=policy
            )
        except ProblemError as refused:
            if refused.status_code in {403, 404}:  # refused (recorded) or erased meanwhile
                continue
            raise
        allowed[stafettlogg_id] = gate.log
    await session.commit()
    views: list[StafettloggView] = [
        await stafettlogg_view(session, log, claims) for log in allowed.values()
    ]
    items = [
        DueMeasureView(stafettlogg_id=row.stafettlogg_id, entry=entry_view(row))
        for row in page
        if row.stafettlogg_id in allowed
    ]
    return DueMeasurePage(items=items, stafettlogger=views, next_cursor=next_cursor)


def _due(row: EntryRow) -> date:
    assert row.due_on is not None  # the query lists only measures with a due date
    return row.due_on
