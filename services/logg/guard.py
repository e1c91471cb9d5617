"""The gate every request on a stafettlogg passes: load what the decision needs, let
`services.logg.access.decide` decide, and leave a record in the access log either way.

A denied request's record is committed at once and the request refused with a 403 problem. An
allowed request's record is added to the request's transaction: the action commits it (a write in
the same commit as the record; a read commits right after loading).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
from services.logg.models import ConsentRow, Principal, StafettloggRow
from shared.problems import ProblemError
from shared.tokens import ServiceClaims

__all__ = [
    "Authorized",
    "authorize",
    "consent_state",
    "consent_state_of",
    "principal_of",
    "record_access",
    "record_replay",
]


def principal_of(claims: ServiceClaims) -> Principal:
    """The caller as the database knows participants: their person, and for staff their service."""
    return Principal(claims.sub, claims.service if claims.role == "staff" else None)


@dataclass(frozen=True, slots=True)
class Authorized:
    """Proof that `decide` allowed the action: the log as loaded, and the caller's part in it."""

    log: StafettloggRow
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


def consent_state_of(context: models.AccessContext, now: datetime) -> ConsentState:
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
) -> Authorized:
    """Load the log and the caller's participation, decide, and record the decision.

    Guarantees when it returns: the log exists, `access.decide` allowed the action for this
    caller as of now, and an "allowed" access record is pending in the session. Raises 404 for an
    unknown log (no record: there is no chain to add to), and 403 after committing a "denied"
    record.

    One query loads the log, the caller's roles, their service's consent and the access-record
    chain head (`models.access_context`); then one insert adds the record."""
    now = datetime.now(UTC)
    found = await models.access_context(session, stafettlogg_id, principal_of(claims), now)
    if found is None:
        raise ProblemError(404, "stafettlogg-not-found", "There is no such stafettlogg")
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
    return Authorized(found.log, participation)


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
