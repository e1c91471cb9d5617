"""Closing a stafettlogg: the coordinator or a guardian closes it with a closing note (a sealed
entry of type `closing_note`, sent in the same request or written before and referenced). A closed
log is read-only: services.logg.access refuses every write with "stafettlogg-closed".
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.entries import stage_entry
from services.logg.guard import authorize
from services.logg.models import StafettloggRow
from services.logg.stafettlogger import stafettlogg_view
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import ClosingRequest, NewEntry, StafettloggView

__all__ = ["CLOSING_NOTE_TYPE", "close_stafettlogg"]

CLOSING_NOTE_TYPE = "closing_note"


async def close_stafettlogg(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: ClosingRequest,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> StafettloggView:
    """Close the log with its closing note; return the closed log.

    Guarantees: only the coordinator or a guardian of an open log; the note is a `closing_note`
    entry of this log (checked and signed like any entry when sent here); the status, who and
    when change in the same transaction as the note is stored. Repeating the request that closed
    the log returns it unchanged; closing a closed log otherwise is a 403 "stafettlogg-closed"."""
    if (request.closing_note is None) == (request.closing_note_id is None):
        raise ProblemError(
            400,
            "invalid-request",
            "Give the closing note, or the id of one written already",
            "Send exactly one of closing_note and closing_note_id",
        )
    note_id = (
        request.closing_note.header.entry_id
        if request.closing_note is not None
        else request.closing_note_id
    )
    current = await models.stafettlogg_by_id(session, stafettlogg_id)
    if (
        current is not None
        and current.status == "closed"
        and current.closing_note_id == note_id
        and current.closed_by == claims.sub
    ):
        allowed = await authorize(
            session, claims, stafettlogg_id, Action.READ_STAFETTLOGG, policy=policy
        )
        await session.commit()
        return await stafettlogg_view(session, allowed.log, claims)
    log = (
        await authorize(
            session, claims, stafettlogg_id, Action.CLOSE, policy=policy, entry_id=note_id
        )
    ).log
    if request.closing_note is not None:
        await stage_entry(
            session, claims, log, NewEntry(sealed=request.closing_note), types=(CLOSING_NOTE_TYPE,)
        )
    else:
        assert note_id is not None
        note = await models.entry_by_id(session, stafettlogg_id, note_id)
        if note is None or note.type != CLOSING_NOTE_TYPE:
            await session.commit()
            raise ProblemError(
                400,
                "invalid-closing-note",
                "closing_note_id names no closing note of this log",
                "Write an entry of type closing_note first, or send it in this request",
            )
    now = datetime.now(UTC)
    try:
        result = await session.execute(
            update(StafettloggRow)
            .where(StafettloggRow.id == stafettlogg_id, StafettloggRow.status == "open")
            .values(status="closed", closed_at=now, closed_by=claims.sub, closing_note_id=note_id)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 1) == 0:
            await session.rollback()
            raise ProblemError(403, "stafettlogg-closed", "You may not do this", "Already closed")
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ProblemError(
            409,
            "entry-exists",
            "An entry with this id already exists",
            "Choose a new entry id for the closing note",
        ) from None
    await session.refresh(log)
    return await stafettlogg_view(session, log, claims)
