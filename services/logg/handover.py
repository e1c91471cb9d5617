"""Handing the baton over: the coordinator proposes a new coordinator — a staff person taking part
in the log — who accepts; then the roles swap (the old coordinator stays as a writer).

A new proposal supersedes one not yet accepted. Both steps take a client-chosen handover id, so
a retry changes nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.guard import authorize, record_replay
from services.logg.models import HandoverRow, StafettloggRow
from services.logg.stafettlogger import handover_view
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import HandoverAcceptance, HandoverView, NewHandover

__all__ = ["accept_handover", "propose_handover"]


async def propose_handover(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewHandover,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[HandoverView, bool]:
    """Propose `request.to_subject` as the next coordinator; return the proposal and whether new.

    Guarantees: only the coordinator of an open log proposes, and only a person who takes part
    in it (not the young person, not the coordinator). Whether that person is staff is checked
    when they accept, from their token."""
    log = (
        await authorize(session, claims, stafettlogg_id, Action.PROPOSE_HANDOVER, policy=policy)
    ).log
    existing = await models.handover_by_id(session, stafettlogg_id, request.id)
    if existing is not None:
        await session.commit()
        return _replayed(existing, claims, request), False
    target = await models.participant(session, stafettlogg_id, "person", request.to_subject)
    if target is None or target.youth or request.to_subject == log.coordinator:
        await session.commit()
        raise ProblemError(
            400,
            "invalid-handover",
            "The baton can go only to a staff person who takes part in the log",
            "Add them as a participant (kind person) first",
        )
    await session.execute(
        update(HandoverRow)
        .where(HandoverRow.stafettlogg_id == stafettlogg_id, HandoverRow.status == "proposed")
        .values(status="superseded")
        .execution_options(synchronize_session=False)
    )
    row = HandoverRow(
        id=request.id,
        stafettlogg_id=stafettlogg_id,
        from_subject=claims.sub,
        to_subject=request.to_subject,
        status="proposed",
        proposed_at=datetime.now(UTC),
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        stored = await models.handover_by_id(session, stafettlogg_id, request.id)
        if stored is None:
            raise _handover_exists() from None
        view = _replayed(stored, claims, request)
        await record_replay(session, claims, stafettlogg_id, Action.PROPOSE_HANDOVER)
        await session.commit()
        return view, False
    return handover_view(row), True


async def accept_handover(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: HandoverAcceptance,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> HandoverView:
    """Accept the baton. Guarantees: only the staff person the pending proposal names, in an
    open log; the proposer becomes a writer and the caller the coordinator, in one transaction.
    Accepting again what the caller already accepted returns it unchanged."""
    stored = await models.handover_by_id(session, stafettlogg_id, request.handover_id)
    if stored is not None and stored.status == "accepted" and stored.to_subject == claims.sub:
        await authorize(session, claims, stafettlogg_id, Action.READ_STAFETTLOGG, policy=policy)
        await session.commit()
        return handover_view(stored)
    log = (
        await authorize(session, claims, stafettlogg_id, Action.ACCEPT_HANDOVER, policy=policy)
    ).log
    pending = await models.pending_handover(session, stafettlogg_id)
    if pending is None or pending.id != request.handover_id:
        await session.commit()
        raise ProblemError(
            409,
            "handover-superseded",
            "This handover is no longer proposed",
            "Ask the coordinator to propose it again",
        )
    now = datetime.now(UTC)
    accepted = await session.execute(
        update(HandoverRow)
        .where(HandoverRow.seq == pending.seq, HandoverRow.status == "proposed")
        .values(status="accepted", accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    moved = await session.execute(
        update(StafettloggRow)
        .where(StafettloggRow.id == log.id, StafettloggRow.coordinator == pending.from_subject)
        .values(coordinator=claims.sub)
        .execution_options(synchronize_session=False)
    )
    if getattr(accepted, "rowcount", 1) == 0 or getattr(moved, "rowcount", 1) == 0:
        await session.rollback()
        raise ProblemError(
            409, "handover-superseded", "The baton moved meanwhile", "Reload and try again"
        )
    await models.set_participant_role(session, log.id, "person", pending.from_subject, "writer")
    await models.set_participant_role(session, log.id, "person", claims.sub, "coordinator")
    await session.commit()
    await session.refresh(pending)
    return handover_view(pending)


def _replayed(stored: HandoverRow, claims: ServiceClaims, request: NewHandover) -> HandoverView:
    if stored.from_subject != claims.sub or stored.to_subject != request.to_subject:
        raise _handover_exists()
    return handover_view(stored)


def _handover_exists() -> ProblemError:
    return ProblemError(
        409,
        "handover-exists",
        "A handover with this id already exists",
        "Choose a new id; a retry must repeat the first request exactly",
    )
