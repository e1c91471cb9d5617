"""The notification feed: what auth's notifier needs to tell people that something is waiting,
and nothing more. New entries after a cursor (log id, entry id, author, time, and who takes part
in the log), and measures whose evaluation date falls in a window and that have no evaluation
yet. No sealed byte, no type but `measure`, no title leaves here.

Only auth's notifier may call it (services.logg.access: its own token audience and subject);
each log that appears in an answer gets an access record, so the family sees that the notifier
looked (the access log shows when, never what it sent).

Who counts as taking part (`FeedRecipient`): every person listed, and every service unit listed that
may read now (holds a given, current consent, unless the deployment does not require consent).
The notifier maps service units to their staff. Ordering is logg's entry sequence: an entry
whose transaction commits after a later-numbered one was read can be passed over (a notification
missed, never one too many).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.logg.access import Action, Policy, decide, require
from services.logg.audit import append_access_records
from services.logg.models import EntryRow, ParticipantRow, StafettloggRow, valid_consent_clause
from shared.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError
from shared.replay import ReplayCacheUnavailableError
from shared.tokens import (
    ServiceClaims,
    ServiceTokenVerifier,
    SigningKeysUnavailableError,
    TokenError,
)
from shared.wire import (
    FeedDueMeasure,
    FeedDueMeasurePage,
    FeedEntry,
    FeedEntryPage,
    FeedRecipient,
)

__all__ = [
    "MAX_FEED_PAGE",
    "NotificationFeedController",
    "NotifierVerifier",
]

MAX_FEED_PAGE = 500
MAX_DUE_WINDOW_DAYS = 366
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="stafett-logg-notifier"'}

NotifierVerifier = NamedDependency[ServiceTokenVerifier]
Session = NamedDependency[AsyncSession]
Rules = NamedDependency[Policy]


async def _notifier(
    request: Request[Any, Any, Any], verifier: ServiceTokenVerifier
) -> ServiceClaims:
    """The verified claims of the notifier's own bearer token (audience NOTIFIER_AUDIENCE); 401
    for anything else, 503 when keys or the replay cache cannot answer (fail closed)."""
    scheme, _, unverified_token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not unverified_token.strip():
        raise NotAuthorizedException("Send an Authorization: Bearer token", headers=_CHALLENGE)
    try:
        claims = await verifier.verify(unverified_token.strip())
    except SigningKeysUnavailableError as error:
        raise ProblemError(503, "keys-unavailable", "The token cannot be checked now") from error
    except ReplayCacheUnavailableError as error:
        raise ProblemError(
            503, "replay-cache-unavailable", "The token cannot be checked right now; try again"
        ) from error
    except TokenError as error:
        raise NotAuthorizedException(str(error), headers=_CHALLENGE) from error
    require(decide(claims, Action.READ_NOTIFICATION_FEED))
    return claims


async def _recipients_recorded(
    session: AsyncSession, claims: ServiceClaims, policy: Policy, log_ids: Sequence[str]
) -> dict[str, list[FeedRecipient]]:
    """Who takes part in each of these logs now; every one of them gets the notifier's access
    record (one insert, committed)."""
    distinct_ids = sorted(set(log_ids))
    recipients = await _recipients(session, distinct_ids, policy, datetime.now(UTC))
    await append_access_records(
        session,
        logs=[(log_id, frozenset()) for log_id in distinct_ids],
        claims=claims,
        action=Action.READ_NOTIFICATION_FEED.value,
        reason="allowed",
    )
    await session.commit()
    return recipients


async def _recipients(
    session: AsyncSession, log_ids: Sequence[str], policy: Policy, now: datetime
) -> dict[str, list[FeedRecipient]]:
    """Who takes part in each log now (the module docstring says who counts)."""
    if not log_ids:
        return {}
    can_read = ParticipantRow.kind == "person"
    if policy.consent_required:
        can_read = or_(
            can_read,
            valid_consent_clause(ParticipantRow.stafettlogg_id, ParticipantRow.principal_id, now),
        )
    else:
        can_read = or_(can_read, ParticipantRow.kind == "service")
    rows = await session.execute(
        select(ParticipantRow.stafettlogg_id, ParticipantRow.kind, ParticipantRow.principal_id)
        .where(ParticipantRow.stafettlogg_id.in_(sorted(set(log_ids))), can_read)
        .order_by(ParticipantRow.id)
    )
    found: dict[str, list[FeedRecipient]] = {}
    for log_id, kind, principal_id in rows:
        found.setdefault(log_id, []).append(
            FeedRecipient(kind="person" if kind == "person" else "service", id=principal_id)
        )
    return found


After = Annotated[
    int | None,
    Parameter(ge=0, le=2**62, description="The cursor of the previous answer (omit: from now)"),
]
Limit = Annotated[int, Parameter(ge=1, le=MAX_FEED_PAGE, description="At most this many items")]


_REFUSALS = {
    status: ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
    )
    for status, description in (
        (400, "A parameter is not valid"),
        (401, "No valid bearer token of audience stafett-logg-notifier"),
        (403, "The token is not the notifier's"),
        (503, "auth's keys or the replay cache cannot be reached"),
    )
}


class NotificationFeedController(Controller):
    """GET /notifications/entries and /notifications/due-measures (auth's notifier only)."""

    path = "/notifications"
    tags = ["notifications"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/entries",
        summary="New entries after a cursor, content-free (auth's notifier only)",
        responses=_REFUSALS,
    )
    async def entries(
        self,
        request: Request[Any, Any, Any],
        notifier_verifier: NotifierVerifier,
        session: Session,
        policy: Rules,
        after: After = None,
        limit: Limit = 200,
    ) -> FeedEntryPage:
        claims = await _notifier(request, notifier_verifier)
        if after is None:
            newest = await session.scalar(select(func.max(EntryRow.seq)))
            return FeedEntryPage(items=[], cursor=int(newest or 0), more=False)
        rows = (
            await session.execute(
                select(
                    EntryRow.seq,
                    EntryRow.stafettlogg_id,
                    EntryRow.id,
                    EntryRow.author,
                    EntryRow.created_at,
                )
                .where(EntryRow.seq > after)
                .order_by(EntryRow.seq)
                .limit(limit + 1)
            )
        ).all()
        page = rows[:limit]
        recipients = await _recipients_recorded(session, claims, policy, [row[1] for row in page])
        return FeedEntryPage(
            items=[
                FeedEntry(
                    seq=int(seq),
                    stafettlogg_id=log_id,
                    entry_id=entry_id,
                    author=author,
                    created_at=created_at,
                    recipients=recipients.get(log_id, []),
                )
                for seq, log_id, entry_id, author, created_at in page
            ],
            cursor=int(page[-1][0]) if page else after,
            more=len(rows) > limit,
        )

    @get(
        "/due-measures",
        summary="Open logs' measures due in a window with no evaluation yet (notifier only)",
        responses=_REFUSALS,
    )
    async def due_measures(
        self,
        request: Request[Any, Any, Any],
        notifier_verifier: NotifierVerifier,
        session: Session,
        policy: Rules,
        due_from: Annotated[date, Parameter(description="First due date (inclusive)")],
        due_to: Annotated[date, Parameter(description="Last due date (inclusive)")],
        after: Annotated[int, Parameter(ge=0, le=2**62)] = 0,
        limit: Limit = 200,
    ) -> FeedDueMeasurePage:
        claims = await _notifier(request, notifier_verifier)
        if due_to < due_from or due_to - due_from > timedelta(days=MAX_DUE_WINDOW_DAYS):
            raise ProblemError(
                400,
                "invalid-window",
                "The due window is not valid",
                f"due_from must not be after due_to, and the window at most "
                f"{MAX_DUE_WINDOW_DAYS} days",
            )
        evaluation = aliased(EntryRow)
        rows = (
            await session.execute(
                select(EntryRow.seq, EntryRow.stafettlogg_id, EntryRow.id, EntryRow.due_on)
                .join(StafettloggRow, StafettloggRow.id == EntryRow.stafettlogg_id)
                .where(
                    EntryRow.type == "measure",
                    EntryRow.due_on >= due_from,
                    EntryRow.due_on <= due_to,
                    EntryRow.seq > after,
                    StafettloggRow.status == "open",
                    ~exists().where(
                        and_(
                            evaluation.stafettlogg_id == EntryRow.stafettlogg_id,
                            evaluation.refers_to == EntryRow.id,
                            evaluation.type == "evaluation",
                        )
                    ),
                )
                .order_by(EntryRow.seq)
                .limit(limit + 1)
            )
        ).all()
        page = rows[:limit]
        recipients = await _recipients_recorded(session, claims, policy, [row[1] for row in page])
        return FeedDueMeasurePage(
            items=[
                FeedDueMeasure(
                    seq=int(seq),
                    stafettlogg_id=log_id,
                    entry_id=entry_id,
                    due_on=due_on or due_from,  # never None: the query asks due_on >= due_from
                    recipients=recipients.get(log_id, []),
                )
                for seq, log_id, entry_id, due_on in page
            ],
            cursor=int(page[-1][0]) if page else after,
            more=len(rows) > limit,
        )
