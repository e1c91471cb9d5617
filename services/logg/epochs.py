"""Key epochs: when a participant leaves, the log's next epoch is granted only to those who remain.

A participant leaves when the coordinator removes them, or — for a service unit — when its consent
is withdrawn, refused or has expired (`models.departed_service_clause`). logg holds no key, so it
cannot start the new epoch itself; what it does:

- at a removal or withdrawal (`participant_left`, in that request's transaction) it deletes the
  leaver's key grants for every epoch and marks the log `rotation_required` if the leaver held the
  current epoch's key. An expiry needs no event: a departed service still holding a grant for the
  current epoch makes the rotation due, decided at each request (`models.rotation_due_clause`);
- while the rotation is due it refuses entries (409 `epoch-rotation-required`,
  services.logg.access), so nothing new is sealed under a key the leaver holds;
- `rotate_epoch` (POST .../epochs, by any participant who may write) accepts the next epoch's key
  wrapped for exactly the remaining participants (`epoch_status` names them), deletes the grants
  of anyone else, moves `current_epoch` on and clears the flag.

Cost: O(participants) rows; nothing written before is touched or re-encrypted. Those who remain
keep their grants for earlier epochs, so history stays readable to them.

History and consent given again (`grant_keys`, `check_history_grants`): a service unit reads the
log's earlier epochs only if its valid consent says it may see history (`ConsentRow.history`,
chosen by the guardian). Adding a service, or wrapping keys for one whose consent was given again
after it ended (its grants were deleted when it left), logg accepts the current epoch's key for
it always, earlier epochs only under such a consent. Persons (guardians, the youth, staff in
person) are not limited: the family reads the whole log. The unit of history is the epoch: a
newcomer with the current key reads what was written earlier in the current epoch too.

What this does not do: take back what the leaver could already read (their old grants may be in
a backup or their own cache), or stop an entry whose transaction raced the removal by a moment.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.guard import authorize
from services.logg.models import ConsentRow, KeyGrantRow, StafettloggRow
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    EpochRecipient,
    EpochStatus,
    NewEpoch,
    NewKeyGrant,
    NewKeyGrants,
    ParticipantKind,
)

__all__ = [
    "check_history_grants",
    "epoch_status",
    "grant_keys",
    "history_consented",
    "participant_left",
    "rotate_epoch",
]

_KINDS: dict[str, ParticipantKind] = {"person": "person", "service": "service"}


async def participant_left(
    session: AsyncSession, log: StafettloggRow, kind: str, principal_id: str
) -> None:
    """In the transaction that removes a participant or withdraws a service's last valid consent:
    delete the leaver's key grants (every epoch) and, if they held the current epoch's key, mark
    the log so that no entry is accepted before the next epoch begins. The caller commits.

    Guarantees after the commit: logg stores no grant for the leaver, and refuses entries under
    the epoch they knew. Does not guarantee that they forget keys they already opened."""
    held = await models.grants_of_recipient(session, log.id, kind, principal_id)
    if not held:
        return
    if any(grant.epoch == log.current_epoch for grant in held):
        # First, so that the log row's lock orders this against a concurrent rotate_epoch.
        await models.mark_rotation_required(session, log.id)
    await models.delete_grants_of(session, log.id, [(kind, principal_id)])


async def epoch_status(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> EpochStatus:
    """The log's current epoch, whether the next one is due, and whom it must be wrapped for."""
    await authorize(session, claims, stafettlogg_id, Action.READ_PARTICIPANTS, policy=policy)
    now = datetime.now(UTC)
    log = await models.stafettlogg_by_id(session, stafettlogg_id)
    assert log is not None  # authorize found it
    due = await models.rotation_due(session, stafettlogg_id, now)
    remaining = await models.remaining_participants(session, stafettlogg_id, now)
    await session.commit()
    return EpochStatus(
        current_epoch=log.current_epoch,
        rotation_required=due,
        recipients=[EpochRecipient(kind=_KINDS[kind], id=rid) for kind, rid in sorted(remaining)],
    )


async def rotate_epoch(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewEpoch,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[EpochStatus, bool]:
    """Start epoch `request.epoch` (the current plus one); return the new status and whether it
    is new.

    Guarantees: the caller may write in this open log (coordinator, writer or guardian); every
    grant is for this epoch, one per recipient, and the recipients are exactly the participants
    who remain (no leaver, no service that has left through its consent, nobody missing); the
    grants of everyone else are deleted in the same commit. Repeating a request that succeeded
    returns 200; another body for an epoch that has begun, or a stale epoch number, is a 409."""
    await authorize(session, claims, stafettlogg_id, Action.ROTATE_EPOCH, policy=policy)
    log = await models.lock_stafettlogg(session, stafettlogg_id)
    assert log is not None  # authorize found it; logs are not deleted by a request
    now = datetime.now(UTC)
    recipients = [(grant.recipient_kind, grant.recipient_id) for grant in request.key_grants]
    if any(grant.epoch != request.epoch for grant in request.key_grants):
        await session.commit()
        raise _invalid_grant(f"Every key grant must be for epoch {request.epoch}")
    if len(set(recipients)) != len(recipients):
        await session.commit()
        raise _invalid_grant("Give one key grant per participant")
    remaining = await models.remaining_participants(session, stafettlogg_id, now)
    if request.epoch == log.current_epoch:
        replay = await _is_replay(session, log, request, remaining)
        await session.commit()
        if not replay:
            raise _epoch_conflict(log.current_epoch)
        return await _status(session, stafettlogg_id, log.current_epoch, remaining, now), False
    if request.epoch != log.current_epoch + 1:
        await session.commit()
        raise _epoch_conflict(log.current_epoch)
    wanted = set(recipients)
    if wanted != remaining:
        await session.commit()
        missing, extra = len(remaining - wanted), len(wanted - remaining)
        raise _invalid_grant(
            f"The key grants must be for exactly the {len(remaining)} participants who remain "
            f"({missing} missing, {extra} not taking part or left): see GET .../epochs"
        )
    gone = await models.grant_holders(session, stafettlogg_id) - remaining
    await models.delete_grants_of(session, stafettlogg_id, sorted(gone))
    moved = await models.start_epoch(
        session, stafettlogg_id, previous=log.current_epoch, epoch=request.epoch
    )
    if not moved:  # pragma: no cover - the row lock (or SQLite's single writer) prevents it
        await session.rollback()
        raise _epoch_conflict(log.current_epoch)
    session.add_all(
        KeyGrantRow(
            stafettlogg_id=stafettlogg_id,
            epoch=grant.epoch,
            recipient_kind=grant.recipient_kind,
            recipient_id=grant.recipient_id,
            wrapped_key=grant.wrapped_key,
        )
        for grant in request.key_grants
    )
    await session.commit()
    status = EpochStatus(
        current_epoch=request.epoch,
        rotation_required=False,
        recipients=[EpochRecipient(kind=_KINDS[k], id=rid) for k, rid in sorted(remaining)],
    )
    return status, True


async def history_consented(
    session: AsyncSession, stafettlogg_id: str, service_id: str, now: datetime
) -> bool:
    """Whether the service unit holds a consent in the log, given and current, that lets it see
    the history (earlier epochs)."""
    result = await session.execute(
        select(
            exists().where(
                ConsentRow.stafettlogg_id == stafettlogg_id,
                ConsentRow.service_id == service_id,
                ConsentRow.status == "given",
                ConsentRow.history.is_(True),
                ConsentRow.valid_from <= now,
                ConsentRow.valid_until > now,
            )
        )
    )
    return bool(result.scalar())


async def check_history_grants(
    session: AsyncSession,
    log: StafettloggRow,
    kind: str,
    principal_id: str,
    grants: list[NewKeyGrant],
    now: datetime,
) -> None:
    """Raise 400 `history-not-consented` if grants for a service unit include an epoch before the
    current one while its valid consent does not allow history. Persons are not limited."""
    if kind != "service" or all(grant.epoch >= log.current_epoch for grant in grants):
        return
    if not await history_consented(session, log.id, principal_id, now):
        await session.commit()
        raise ProblemError(
            400,
            "history-not-consented",
            "This service may not read what was written before it joined",
            "Give a key grant for the current epoch only, or record a consent that allows history",
        )


async def grant_keys(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewKeyGrants,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[EpochStatus, bool]:
    """Store epoch keys wrapped for one participant who takes part now; return the log's epoch
    status and whether any grant is new. The portal of a guardian or the coordinator calls it
    when a service's consent is given again after it ended, so the service reads again without
    waiting for the next rotation.

    Guarantees: the caller may start an epoch in this open log; the recipient is a participant
    who remains (a service only with valid consent now); the grants include the current epoch,
    one per epoch, none later; an earlier epoch only for a person or under a consent that allows
    history (`check_history_grants`). An epoch the recipient holds a grant for already is left
    as it is (a grant is never replaced), so a retry, or two portals wrapping at once, is safe."""
    await authorize(session, claims, stafettlogg_id, Action.GRANT_KEYS, policy=policy)
    log = await models.lock_stafettlogg(session, stafettlogg_id)
    assert log is not None  # authorize found it; logs are not deleted by a request
    now = datetime.now(UTC)
    kind, rid = request.recipient_kind, request.recipient_id
    epochs = [grant.epoch for grant in request.key_grants]
    if any(g.recipient_kind != kind or g.recipient_id != rid for g in request.key_grants):
        await session.commit()
        raise _invalid_grant("Every key grant must be for the recipient named")
    if len(set(epochs)) != len(epochs) or max(epochs) > log.current_epoch:
        await session.commit()
        raise _invalid_grant(f"Give one key grant per epoch, epochs 1 to {log.current_epoch}")
    if log.current_epoch not in epochs:
        await session.commit()
        raise _invalid_grant(f"Include a key grant for the current epoch ({log.current_epoch})")
    remaining = await models.remaining_participants(session, stafettlogg_id, now)
    consented = kind == "person" or bool(
        await session.scalar(select(models.valid_consent_clause(stafettlogg_id, rid, now)))
    )
    if (kind, rid) not in remaining or not consented:
        await session.commit()
        raise ProblemError(
            409,
            "recipient-not-taking-part",
            "The recipient does not take part in this stafettlogg now",
            "Keys are wrapped only for a participant who takes part (a service: with valid "
            "consent)",
        )
    await check_history_grants(session, log, kind, rid, request.key_grants, now)
    held = {g.epoch for g in await models.grants_of_recipient(session, stafettlogg_id, kind, rid)}
    new = [g for g in request.key_grants if g.epoch not in held]
    session.add_all(
        KeyGrantRow(
            stafettlogg_id=stafettlogg_id,
            epoch=grant.epoch,
            recipient_kind=kind,
            recipient_id=rid,
            wrapped_key=grant.wrapped_key,
        )
        for grant in new
    )
    await session.commit()
    return await _status(session, stafettlogg_id, log.current_epoch, remaining, now), bool(new)


async def _is_replay(
    session: AsyncSession,
    log: StafettloggRow,
    request: NewEpoch,
    remaining: set[tuple[str, str]],
) -> bool:
    """The epoch has begun: is this the request that began it? Every stored grant must be in
    the request; a grant the request has beyond them may only be for someone who left since."""
    stored = {
        (grant.recipient_kind, grant.recipient_id, grant.wrapped_key)
        for grant in await models.grants_of_epoch(session, log.id, log.current_epoch)
    }
    sent = {(g.recipient_kind, g.recipient_id, g.wrapped_key) for g in request.key_grants}
    return stored <= sent and all((kind, rid) not in remaining for kind, rid, _ in sent - stored)


async def _status(
    session: AsyncSession,
    stafettlogg_id: str,
    epoch: int,
    remaining: set[tuple[str, str]],
    now: datetime,
) -> EpochStatus:
    return EpochStatus(
        current_epoch=epoch,
        rotation_required=await models.rotation_due(session, stafettlogg_id, now),
        recipients=[EpochRecipient(kind=_KINDS[k], id=rid) for k, rid in sorted(remaining)],
    )


def _invalid_grant(detail: str) -> ProblemError:
    return ProblemError(400, "invalid-key-grant", "A key grant does not fit", detail)


def _epoch_conflict(current: int) -> ProblemError:
    return ProblemError(
        409,
        "epoch-conflict",
        "This epoch has begun already, with other key grants",
        f"The current epoch is {current}; read GET .../epochs and start epoch {current + 1}",
    )
