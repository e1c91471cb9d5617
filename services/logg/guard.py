"""The gate every request on a stafettlogg passes: load what the decision needs, let
`services.logg.access.decide` decide, and leave a record in the access log either way.

A denied request's record is committed at once and the request refused with a 403 problem. An
allowed request's record is added to the request's transaction: the action commits it (a write in
the same commit as the record; a read commits right after loading).

An allowed request can still be refused after `authorize`: bad input (400), a conflict (409),
an envelope that does not check out (422). Its transaction, and the record in it, are rolled
back, so `authorize` leaves a note on the session (`session.info`) until the next commit, and
`record_refusal` (called by the session dependency when the request fails) writes in its place
a "denied" record whose reason names the refusal (`refused:<problem type>`): an auditor reads
that the caller had access, tried, and that nothing was read or written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic

from litestar.exceptions import HTTPException
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import (
    CONSENT_REQUIRED,
    Action,
    ConsentState,
    Decision,
    Participation,
    Policy,
    decide,
    require,
)
from services.logg.audit import UNKNOWN, Unknown, append_access_record
from services.logg.models import (
    AccessContext,
    ConsentRow,
    LogFacts,
    LogT,
    Principal,
    StafettloggRow,
)
from shared.problems import ProblemError
from shared.tokens import ServiceClaims

__all__ = [
    "PENDING_ACCESS",
    "Authorized",
    "authorize",
    "authorize_light",
    "consent_state",
    "consent_state_of",
    "principal_of",
    "record_access",
    "record_refusal",
    "record_replay",
    "refusal_reason",
]

_log = logging.getLogger("stafett.logg.guard")
# session.info key: the allowed access whose record is in the uncommitted transaction
# (cleared by services.logg.database after every commit).
PENDING_ACCESS = "stafett.pending_access"
_REASON_LENGTH = 64  # access_record.reason


def principal_of(claims: ServiceClaims) -> Principal:
    """The caller as the database knows participants: their person, and for staff their service."""
    return Principal(claims.sub, claims.service if claims.role == "staff" else None)


@dataclass(frozen=True, slots=True)
class Authorized(Generic[LogT]):
    """Proof that `decide` allowed the action: the log as loaded, and the caller's part in it."""

    log: LogT
    participation: Participation


def consent_state(rows: list[ConsentRow], now: datetime) -> ConsentState:
    """The state of a service unit's consent now, from its consent records (newest first)."""
    for row in rows:
        if row.status == "given" and row.valid_from <= now < row.valid_until:
            return ConsentState.VALID
    if not rows:
        return ConsentState.NONE
    newest = rows[0]
    if newest.status == "withdrawn":
        return ConsentState.WITHDRAWN
    if newest.status == "refused":
        return ConsentState.REFUSED
    return ConsentState.NOT_YET_VALID if now < newest.valid_from else ConsentState.EXPIRED


def consent_state_of(context: AccessContext[LogT], now: datetime) -> ConsentState:
    """`consent_state` from the consent facts of `models.access_context` (the same answer as
    `consent_state` over the same newest records, without loading them)."""
    if context.consent_valid:
        return ConsentState.VALID
    if context.consent_status is None:
        return ConsentState.NONE
    if context.consent_status == "withdrawn":
        return ConsentState.WITHDRAWN
    if context.consent_status == "refused":
        return ConsentState.REFUSED
    assert context.consent_valid_from is not None
    return ConsentState.NOT_YET_VALID if now < context.consent_valid_from else ConsentState.EXPIRED


async def authorize(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    action: Action,
    *,
    policy: Policy = CONSENT_REQUIRED,
    entry_id: str | None = None,
) -> Authorized[StafettloggRow]:
    """Load the log and the caller's participation, decide, and record the decision.

    Guarantees when it returns: the log exists, `access.decide` allowed the action for this
    caller as of now, and an "allowed" access record is pending in the session. Raises 404 for an
    unknown log (no record: there is no chain to add to), and 403 after committing a "denied"
    record.

    One query loads the log, the caller's roles, their service's consent and the access-record
    chain head (`models.access_context`); then one insert adds the record. `Authorized.log` is
    the session's row of the log, for actions that change it."""
    now = datetime.now(UTC)
    found = await models.access_context(session, stafettlogg_id, principal_of(claims), now)
    return await _decide(session, claims, action, _existing(found), now, policy, entry_id)


async def authorize_light(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    action: Action,
    *,
    policy: Policy = CONSENT_REQUIRED,
    entry_id: str | None = None,
) -> Authorized[LogFacts]:
    """`authorize` for the hot paths (write an entry, read a page), which do not change the log
    row: the same decision and record, with the log as `LogFacts` (no ORM row)."""
    now = datetime.now(UTC)
    found = await models.access_context(
        session, stafettlogg_id, principal_of(claims), now, attached=False
    )
    return await _decide(session, claims, action, _existing(found), now, policy, entry_id)


def _existing(found: AccessContext[LogT] | None) -> AccessContext[LogT]:
    if found is None:
        raise ProblemError(404, "stafettlogg-not-found", "There is no such stafettlogg")
    return found


async def _decide(
    session: AsyncSession,
    claims: ServiceClaims,
    action: Action,
    found: AccessContext[LogT],
    now: datetime,
    policy: Policy,
    entry_id: str | None,
) -> Authorized[LogT]:
    stafettlogg_id = found.log.id
    pairs = found.pairs
    person_roles = frozenset(role for kind, role in pairs if kind == "person")
    service_roles = frozenset(role for kind, role in pairs if kind == "service")
    consent = ConsentState.NONE
    needs_consent = claims.role == "staff" and claims.service is not None and bool(pairs)
    if needs_consent and (service_roles or "coordinator" not in person_roles):
        consent = consent_state_of(found, now)
    candidate = False
    if action is Action.ACCEPT_HANDOVER:
        pending = await models.pending_handover(session, stafettlogg_id)
        candidate = pending is not None and pending.to_subject == claims.sub
    participation = Participation(person_roles, service_roles, consent, candidate)
    decision = decide(
        claims,
        action,
        participation=participation,
        status=found.log.status,
        policy=policy,
        rotation_required=found.rotation_due,
    )
    await record_access(
        session,
        claims,
        stafettlogg_id,
        action,
        decision,
        participation,
        entry_id=entry_id,
        known_head=found.head,
    )
    if not decision.allowed:
        await session.commit()
        require(decision)
    session.info[PENDING_ACCESS] = _PendingAccess(
        claims, stafettlogg_id, action, participation, entry_id
    )
    return Authorized(found.log, participation)


@dataclass(frozen=True, slots=True)
class _PendingAccess:
    claims: ServiceClaims
    stafettlogg_id: str
    action: Action
    participation: Participation
    entry_id: str | None


def refusal_reason(error: BaseException) -> str:
    """The access record's reason for a request refused after it was allowed: `refused:` and
    the problem type (e.g. `refused:invalid-entry-link`), or the status for other HTTP errors,
    `refused:error` for anything unexpected. Never the error's text (it may echo input)."""
    if isinstance(error, ProblemError):
        reason = f"refused:{error.slug}"
    elif isinstance(error, HTTPException):
        reason = f"refused:{error.status_code}"
    else:
        reason = "refused:error"
    return reason[:_REASON_LENGTH]


async def record_refusal(session: AsyncSession, error: BaseException) -> bool:
    """If this session holds an allowed access whose record was not committed (the request
    failed after `authorize`), roll back and commit a "denied" record with `refusal_reason`
    in its place; return whether it did. Never raises: the request's own error is what the
    caller sees (a failure here is logged, without content)."""
    pending = session.info.pop(PENDING_ACCESS, None)
    if not isinstance(pending, _PendingAccess):
        return False
    try:
        await session.rollback()
        participation = pending.participation
        await append_access_record(
            session,
            stafettlogg_id=pending.stafettlogg_id,
            claims=pending.claims,
            roles=participation.person_roles | participation.service_roles,
            action=pending.action.value,
            entry_id=pending.entry_id,
            allowed=False,
            reason=refusal_reason(error),
        )
        await session.commit()
    except (SQLAlchemyError, ProblemError, OSError) as failure:
        _log.warning("could not record a refused request: %s", type(failure).__name__)
        return False
    return True


async def record_access(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    action: Action,
    decision: Decision,
    participation: Participation,
    *,
    entry_id: str | None = None,
    known_head: tuple[int, bytes] | Unknown | None = UNKNOWN,
) -> None:
    """Add an access record for this request to the session (the caller commits).
    `known_head`: the chain head as read in this transaction, if it was (see
    `audit.append_access_record`)."""
    await append_access_record(
        session,
        stafettlogg_id=stafettlogg_id,
        claims=claims,
        roles=participation.person_roles | participation.service_roles,
        action=action.value,
        entry_id=entry_id,
        allowed=decision.allowed,
        reason=decision.reason,
        known_head=known_head,
    )


async def record_replay(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    action: Action,
    *,
    entry_id: str | None = None,
) -> None:
    """Record an allowed request that found its work already done (an idempotent retry, after
    the transaction that held its first record was rolled back)."""
    found = await models.log_with_caller_roles(session, stafettlogg_id, principal_of(claims))
    pairs = found[1] if found is not None else frozenset()
    await append_access_record(
        session,
        stafettlogg_id=stafettlogg_id,
        claims=claims,
        roles=frozenset(role for _, role in pairs),
        action=action.value,
        entry_id=entry_id,
        allowed=True,
        reason="replay",
    )
