"""Stafettlogger and their participants: creating, reading, listing, adding participants.

Every function checks access through `services.logg.access.decide` before it touches anything,
writes in one transaction, and answers an idempotent retry with what is already stored.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy, decide, require
from services.logg.audit import append_access_record, append_access_records
from services.logg.authentication import sign_key_of
from services.logg.epochs import check_history_grants, participant_left
from services.logg.guard import authorize, principal_of, record_replay
from services.logg.models import (
    HandoverRow,
    KeyGrantRow,
    ParticipantRow,
    Principal,
    StafettloggRow,
)
from services.logg.paging import cut_page, decode_cursor
from services.logg.sealing import check_envelope, decode_sealed, encode_sealed
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    HandoverStatus,
    HandoverView,
    KeyGrantView,
    NewKeyGrant,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantKind,
    ParticipantPage,
    ParticipantRole,
    ParticipantView,
    StafettloggPage,
    StafettloggStatus,
    StafettloggView,
)

__all__ = [
    "DESCRIPTION_TYPE",
    "add_participant",
    "create_stafettlogg",
    "handover_view",
    "list_stafettlogger",
    "page_participants",
    "read_stafettlogg",
    "remove_participant",
    "stafettlogg_view",
]

DESCRIPTION_TYPE = "description"
_FIRST_EPOCH = 1
_request_encoder = msgspec.msgpack.Encoder()
# Stored strings back to the wire's literal types (the database holds only these values).
_KINDS: dict[str, ParticipantKind] = {"person": "person", "service": "service"}
_ROLES: dict[str, ParticipantRole] = {
    "coordinator": "coordinator",
    "writer": "writer",
    "reader": "reader",
}
_STATUSES: dict[str, StafettloggStatus] = {"open": "open", "closed": "closed"}
_HANDOVER_STATUSES: dict[str, HandoverStatus] = {
    "proposed": "proposed",
    "accepted": "accepted",
    "superseded": "superseded",
}


async def create_stafettlogg(
    session: AsyncSession, claims: ServiceClaims, request: NewStafettlogg
) -> tuple[StafettloggView, bool]:
    """Create a log with the caller as coordinator; return its view and whether it is new.

    Guarantees: only staff create; the description is sealed for this log under epoch 1 and
    signed by the caller; the epoch-1 key grants go only to participants and include the
    caller's. Retrying the same request returns the stored log; the same id with another body
    or from another caller is a 409."""
    require(decide(claims, Action.CREATE_STAFETTLOGG))
    check_envelope(
        request.sealed_description,
        stafettlogg_id=request.id,
        epoch=_FIRST_EPOCH,
        author=claims.sub,
        types=(DESCRIPTION_TYPE,),
        author_key=sign_key_of(claims),
    )
    for new in request.participants:
        _check_youth(new.kind, new.role, youth=new.youth)
    if sum(new.youth for new in request.participants) > 1:
        raise ProblemError(
            400,
            "invalid-youth",
            "A stafettlogg has one young person",
            "Mark only the child the log is about as youth",
        )
    participants = _initial_participants(claims, request)
    _check_initial_grants(claims, request.key_grants, set(participants))
    digest = hashlib.sha256(_request_encoder.encode(request)).digest()
    now = datetime.now(UTC)
    log = StafettloggRow(
        id=request.id,
        status="open",
        level=0,
        current_epoch=_FIRST_EPOCH,
        created_at=now,
        coordinator=claims.sub,
        sealed_description=encode_sealed(request.sealed_description),
        request_digest=digest,
    )
    youths = {(p.kind, p.principal_id) for p in request.participants if p.youth}
    participant_rows = [
        ParticipantRow(
            stafettlogg_id=request.id,
            kind=kind,
            principal_id=principal_id,
            role=role,
            added_at=now,
            youth=(kind, principal_id) in youths,
            youth_declared_by=claims.sub if (kind, principal_id) in youths else None,
        )
        for (kind, principal_id), role in participants.items()
    ]
    grant_rows = [_grant_row(request.id, grant) for grant in request.key_grants]
    try:
        session.add(log)
        await session.flush()
        session.add_all([*participant_rows, *grant_rows])
        await _record_create(session, claims, request.id, "allowed")
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await models.stafettlogg_by_id(session, request.id)
        if (
            existing is None
            or existing.coordinator != claims.sub
            or existing.request_digest != digest
        ):
            raise ProblemError(
                409,
                "stafettlogg-exists",
                "A stafettlogg with this id already exists",
                "Choose a new id; a retry must repeat the first request exactly",
            ) from None
        await _record_create(session, claims, request.id, "replay")
        await session.commit()
        return (await _views(session, [existing], principal_of(claims)))[0], False
    view = StafettloggView(
        id=log.id,
        status="open",
        level=0,
        current_epoch=_FIRST_EPOCH,
        created_at=now,
        sealed_description=request.sealed_description,
        participants=[_participant_view(row) for row in participant_rows],
        key_grants=_visible_grants(grant_rows, principal_of(claims)),
        coordinator=claims.sub,
    )
    return view, True


async def _record_create(
    session: AsyncSession, claims: ServiceClaims, stafettlogg_id: str, reason: str
) -> None:
    await append_access_record(
        session,
        stafettlogg_id=stafettlogg_id,
        claims=claims,
        roles=frozenset({"coordinator"}),
        action=Action.CREATE_STAFETTLOGG.value,
        entry_id=None,
        allowed=True,
        reason=reason,
    )


async def read_stafettlogg(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> StafettloggView:
    """The log for a participant, with only the key grants the caller can open."""
    allowed = await authorize(
        session, claims, stafettlogg_id, Action.READ_STAFETTLOGG, policy=policy
    )
    await session.commit()
    return await stafettlogg_view(session, allowed.log, claims)


async def stafettlogg_view(
    session: AsyncSession, log: StafettloggRow, claims: ServiceClaims
) -> StafettloggView:
    """The view of one log as the caller may see it (their key grants only)."""
    return (await _views(session, [log], principal_of(claims)))[0]


async def list_stafettlogger(
    session: AsyncSession,
    claims: ServiceClaims,
    *,
    cursor: str | None,
    limit: int,
    policy: Policy = CONSENT_REQUIRED,
) -> StafettloggPage:
    """The logs the caller takes part in (as a person or through their service), newest first.
    A staff member sees a log only where they coordinate it or their service unit holds valid
    consent (the rule of services.logg.access). Each listed log gets an access record (a
    `read-stafettlogg`, reason `listed`: the list shows each log's view), all in one insert and
    one commit. Six statements per page, whatever the number of logs or records."""
    principal = principal_of(claims)
    rows = await models.logs_page_for_principal(
        session,
        principal,
        before_seq=decode_cursor(cursor),
        limit=limit + 1,
        consent_required=policy.consent_required and claims.role == "staff",
    )
    page, next_cursor = cut_page(rows, limit, lambda row: row.seq)
    views = await _views(session, page, principal)
    await append_access_records(
        session,
        logs=[(view.id, _caller_roles(view, principal)) for view in views],
        claims=claims,
        action=Action.READ_STAFETTLOGG.value,
        reason="listed",
    )
    await session.commit()
    return StafettloggPage(items=views, next_cursor=next_cursor)


def _caller_roles(view: StafettloggView, principal: Principal) -> frozenset[str]:
    """The roles the caller holds in a listed log, as a person and through their service."""
    mine = {("person", principal.person)}
    if principal.service is not None:
        mine.add(("service", principal.service))
    return frozenset(
        participant.role
        for participant in view.participants
        if (participant.kind, participant.principal_id) in mine
    )


async def add_participant(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewParticipantRequest,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[ParticipantView, bool]:
    """Add a participant with key grants for them; return its view and whether it is new.

    Guarantees: only a coordinator of an open log adds; every grant is for the new participant
    and for an epoch that exists; a youth is a person with the writer role, declared by the
    caller, and the log's only one (409 youth-exists otherwise). Repeating an identical request
    returns the stored participant; adding one who is already there with another role or other
    grants is a 409."""
    new = request.participant
    _check_youth(new.kind, new.role, youth=new.youth)
    log = (
        await authorize(session, claims, stafettlogg_id, Action.ADD_PARTICIPANT, policy=policy)
    ).log
    epochs: set[int] = set()
    for grant in request.key_grants:
        if grant.recipient_kind != new.kind or grant.recipient_id != new.principal_id:
            raise _invalid_grant("Every key grant must be for the new participant")
        if grant.epoch > log.current_epoch:
            raise _invalid_grant(f"Key grants can be for epochs 1 to {log.current_epoch}")
        if grant.epoch in epochs:
            raise _invalid_grant("Give one key grant per epoch")
        epochs.add(grant.epoch)
    if new.youth:
        youth = await models.youth_of(session, stafettlogg_id)
        if youth is not None and (youth.kind, youth.principal_id) != (new.kind, new.principal_id):
            raise ProblemError(
                409,
                "youth-exists",
                "This stafettlogg already has its young person",
                "A log is about one child; start a log of their own for a sibling",
            )
    now = datetime.now(UTC)
    await check_history_grants(session, log, new.kind, new.principal_id, request.key_grants, now)
    row = ParticipantRow(
        stafettlogg_id=stafettlogg_id,
        kind=new.kind,
        principal_id=new.principal_id,
        role=new.role,
        added_at=now,
        youth=new.youth,
        youth_declared_by=claims.sub if new.youth else None,
    )
    try:
        session.add_all([row, *(_grant_row(stafettlogg_id, g) for g in request.key_grants)])
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await record_replay(session, claims, stafettlogg_id, Action.ADD_PARTICIPANT)
        await session.commit()
        existing = await models.participant(session, stafettlogg_id, new.kind, new.principal_id)
        if existing is None or existing.role != new.role or existing.youth != new.youth:
            raise _participant_exists() from None
        stored = await models.grants_of_recipient(
            session, stafettlogg_id, new.kind, new.principal_id
        )
        stored_pairs = {(grant.epoch, grant.wrapped_key) for grant in stored}
        if any((g.epoch, g.wrapped_key) not in stored_pairs for g in request.key_grants):
            raise _participant_exists() from None
        return _participant_view(existing), False
    return _participant_view(row), True


async def page_participants(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    cursor: str | None,
    limit: int,
    policy: Policy = CONSENT_REQUIRED,
) -> ParticipantPage:
    """A participant's page of a log's participants, in the order they were added."""
    after_id = decode_cursor(cursor)
    await authorize(session, claims, stafettlogg_id, Action.READ_PARTICIPANTS, policy=policy)
    await session.commit()
    rows = await models.participants_page(
        session, stafettlogg_id, after_id=after_id, limit=limit + 1
    )
    page, next_cursor = cut_page(rows, limit, lambda row: row.id)
    return ParticipantPage(items=[_participant_view(row) for row in page], next_cursor=next_cursor)


async def remove_participant(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    kind: ParticipantKind,
    principal_id: str,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> None:
    """Remove a participant (coordinator only; not the coordinator themself: hand over first).

    Removing one who is not there is a no-op, so a retry is safe. In the same commit their key
    grants (every epoch) are deleted and, if they held the current epoch's key, no entry is
    accepted until the next epoch is granted to those who remain (services.logg.epochs). They
    keep only what they already opened."""
    log = (
        await authorize(session, claims, stafettlogg_id, Action.REMOVE_PARTICIPANT, policy=policy)
    ).log
    if kind == "person" and principal_id == log.coordinator:
        await session.commit()
        raise ProblemError(
            409,
            "coordinator-cannot-leave",
            "The coordinator cannot be removed",
            "Hand the baton over to someone else first",
        )
    existing = await models.participant(session, stafettlogg_id, kind, principal_id)
    if existing is not None:
        await session.delete(existing)
        await participant_left(session, log, kind, principal_id)
    await session.commit()


def _check_youth(kind: str, role: str, *, youth: bool) -> None:
    if youth and (kind != "person" or role != "writer"):
        raise ProblemError(
            400,
            "invalid-youth",
            "Only a person with the writer role can be the young person",
            "Add the young person as kind person, role writer, youth true",
        )


def _initial_participants(
    claims: ServiceClaims, request: NewStafettlogg
) -> dict[tuple[str, str], str]:
    participants: dict[tuple[str, str], str] = {("person", claims.sub): "coordinator"}
    for participant in request.participants:
        key = (participant.kind, participant.principal_id)
        if key in participants:
            raise ProblemError(
                400,
                "duplicate-participant",
                "A participant is listed twice",
                "List each participant once; you are the coordinator already",
            )
        participants[key] = participant.role
    return participants


def _check_initial_grants(
    claims: ServiceClaims, grants: Sequence[NewKeyGrant], participants: set[tuple[str, str]]
) -> None:
    recipients: set[tuple[str, str]] = set()
    for grant in grants:
        recipient = (grant.recipient_kind, grant.recipient_id)
        if grant.epoch != _FIRST_EPOCH:
            raise _invalid_grant("A new stafettlogg's key grants are for epoch 1")
        if recipient not in participants:
            raise _invalid_grant("Every key grant must be for a participant")
        if recipient in recipients:
            raise _invalid_grant("Give one key grant per participant")
        recipients.add(recipient)
    if ("person", claims.sub) not in recipients:
        raise _invalid_grant("Include a key grant for yourself, the coordinator")


async def _views(
    session: AsyncSession, logs: Sequence[StafettloggRow], principal: Principal
) -> list[StafettloggView]:
    ids = [log.id for log in logs]
    participants: defaultdict[str, list[ParticipantView]] = defaultdict(list)
    for participant in await models.participants_of(session, ids):
        participants[participant.stafettlogg_id].append(_participant_view(participant))
    grants: defaultdict[str, list[KeyGrantView]] = defaultdict(list)
    for grant in await models.grants_for_principal(session, ids, principal):
        grants[grant.stafettlogg_id].append(_grant_view(grant))
    pending: dict[str, HandoverRow] = {}
    if len(logs) == 1:  # a single log's view shows a proposed handover; a list does not
        found = await models.pending_handover(session, logs[0].id)
        if found is not None:
            pending[found.stafettlogg_id] = found
    return [
        StafettloggView(
            id=log.id,
            status=_STATUSES[log.status],
            level=log.level,
            current_epoch=log.current_epoch,
            created_at=log.created_at,
            sealed_description=decode_sealed(log.sealed_description),
            participants=participants[log.id],
            key_grants=grants[log.id],
            coordinator=log.coordinator,
            level_changed_at=log.level_changed_at,
            closed_at=log.closed_at,
            closed_by=log.closed_by,
            closing_note_id=log.closing_note_id,
            pending_handover=handover_view(pending[log.id]) if log.id in pending else None,
        )
        for log in logs
    ]


def handover_view(row: HandoverRow) -> HandoverView:
    return HandoverView(
        id=row.id,
        from_subject=row.from_subject,
        to_subject=row.to_subject,
        status=_HANDOVER_STATUSES[row.status],
        proposed_at=row.proposed_at,
        accepted_at=row.accepted_at,
    )


def _visible_grants(grants: Sequence[KeyGrantRow], principal: Principal) -> list[KeyGrantView]:
    visible = {("person", principal.person)}
    if principal.service is not None:
        visible.add(("service", principal.service))
    return [
        _grant_view(grant)
        for grant in grants
        if (grant.recipient_kind, grant.recipient_id) in visible
    ]


def _grant_row(stafettlogg_id: str, grant: NewKeyGrant) -> KeyGrantRow:
    return KeyGrantRow(
        stafettlogg_id=stafettlogg_id,
        epoch=grant.epoch,
        recipient_kind=grant.recipient_kind,
        recipient_id=grant.recipient_id,
        wrapped_key=grant.wrapped_key,
    )


def _grant_view(row: KeyGrantRow) -> KeyGrantView:
    return KeyGrantView(
        epoch=row.epoch,
        recipient_kind=_KINDS[row.recipient_kind],
        recipient_id=row.recipient_id,
        wrapped_key=row.wrapped_key,
    )


def _participant_view(row: ParticipantRow) -> ParticipantView:
    return ParticipantView(
        kind=_KINDS[row.kind],
        principal_id=row.principal_id,
        role=_ROLES[row.role],
        added_at=row.added_at,
        youth=row.youth,
        youth_declared_by=row.youth_declared_by,
    )


def _invalid_grant(detail: str) -> ProblemError:
    return ProblemError(400, "invalid-key-grant", "A key grant does not fit", detail)


def _participant_exists() -> ProblemError:
    return ProblemError(
        409,
        "participant-exists",
        "This participant already takes part",
        "A retry must repeat the first request exactly",
    )
