"""The BTI level of a stafettlogg (0-3) and the history of every change of it.

A change is made by the coordinator with a reason the coordinator writes. The reason is
sensitive, so it is a sealed entry (type `level_change`) in the log's timeline; logg keeps in
clear only what it must show and order: the old and new level, who changed it and when, and the
reason entry's id, which is also the change's id (so a retry creates nothing twice). Why not a
separate sealed field: one envelope format, one signature check, and the reason is read, kept and
shredded like every other entry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.entries import stage_entry
from services.logg.guard import authorize, record_replay
from services.logg.models import LevelChangeRow, StafettloggRow
from services.logg.paging import cut_page, decode_cursor
from services.logg.sealing import encode_sealed
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    LEVEL_CHANGE_TYPE,
    LevelChangePage,
    LevelChangeRequest,
    LevelChangeView,
    NewEntry,
)

__all__ = ["change_level", "level_change_view", "page_level_changes"]


async def change_level(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: LevelChangeRequest,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[LevelChangeView, bool]:
    """Set the log's level with a sealed reason; return the change and whether it is new.

    Guarantees: only the coordinator of an open log; the reason is a valid `level_change`
    envelope signed by the caller; the level and its history change in one transaction, and a
    concurrent change of the same log makes this one a 409 rather than a lost update. A retry of
    the same request returns the stored change."""
    change_id = request.reason.header.entry_id
    log = (
        await authorize(
            session, claims, stafettlogg_id, Action.CHANGE_LEVEL, policy=policy, entry_id=change_id
        )
    ).log
    existing = await models.level_change_by_id(session, stafettlogg_id, change_id)
    if existing is not None:
        await session.commit()
        return await _replayed(session, stafettlogg_id, existing, request), False
    if request.level == log.level:
        await session.commit()
        raise ProblemError(
            409, "level-unchanged", "The stafettlogg is at this level already", "Choose another"
        )
    await stage_entry(
        session, claims, log, NewEntry(sealed=request.reason), types=(LEVEL_CHANGE_TYPE,)
    )
    now = datetime.now(UTC)
    row = LevelChangeRow(
        id=change_id,
        stafettlogg_id=stafettlogg_id,
        from_level=log.level,
        to_level=request.level,
        changed_by=claims.sub,
        changed_at=now,
    )
    session.add(row)
    try:
        await _move_level(session, log, request.level, now)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        stored = await models.level_change_by_id(session, stafettlogg_id, change_id)
        if stored is None:
            raise _entry_taken() from None
        view = await _replayed(session, stafettlogg_id, stored, request)
        await record_replay(
            session, claims, stafettlogg_id, Action.CHANGE_LEVEL, entry_id=change_id
        )
        await session.commit()
        return view, False
    return level_change_view(row), True


async def _move_level(
    session: AsyncSession, log: StafettloggRow, level: int, now: datetime
) -> None:
    result = await session.execute(
        update(StafettloggRow)
        .where(StafettloggRow.id == log.id, StafettloggRow.level == log.level)
        .values(level=level, level_changed_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) == 0:
        await session.rollback()
        raise ProblemError(
            409,
            "level-changed-meanwhile",
            "Someone changed the level at the same time",
            "Reload the stafettlogg and try again",
        )


async def _replayed(
    session: AsyncSession, stafettlogg_id: str, stored: LevelChangeRow, request: LevelChangeRequest
) -> LevelChangeView:
    entry = await models.entry_by_id(session, stafettlogg_id, stored.id)
    if (
        stored.to_level != request.level
        or entry is None
        or entry.sealed != encode_sealed(request.reason)
    ):
        raise _entry_taken()
    return level_change_view(stored)


def _entry_taken() -> ProblemError:
    return ProblemError(
        409,
        "entry-exists",
        "An entry with this id already exists",
        "Choose a new entry id; a retry must repeat the first request exactly",
    )


async def page_level_changes(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    cursor: str | None,
    limit: int,
    policy: Policy = CONSENT_REQUIRED,
) -> LevelChangePage:
    """A participant's page of the level history, newest first."""
    before_seq = decode_cursor(cursor)
    await authorize(session, claims, stafettlogg_id, Action.READ_LEVEL_CHANGES, policy=policy)
    await session.commit()
    rows = await models.level_changes_page(
        session, stafettlogg_id, before_seq=before_seq, limit=limit + 1
    )
    page, next_cursor = cut_page(rows, limit, lambda row: row.seq)
    return LevelChangePage(items=[level_change_view(r) for r in page], next_cursor=next_cursor)


def level_change_view(row: LevelChangeRow) -> LevelChangeView:
    return LevelChangeView(
        id=row.id,
        from_level=row.from_level,
        to_level=row.to_level,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
    )
