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
from services.logg.access import Action, Participation, decide, require
from services.logg.authentication import sign_key_of
from services.logg.models import KeyGrantRow, ParticipantRow, Principal, StafettloggRow
from services.logg.paging import decode_cursor, encode_cursor
from services.logg.sealing import check_envelope, decode_sealed, encode_sealed
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    KeyGrantView,
    NewKeyGrant,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantKind,
    ParticipantRole,
    ParticipantView,
    StafettloggPage,
    StafettloggStatus,
    StafettloggView,
)

__all__ = [
    "DESCRIPTION_TYPE",
    "add_participant",
    "authorize",
    "create_stafettlogg",
    "list_stafettlogger",
    "principal_of",
    "read_stafettlogg",
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


def principal_of(claims: ServiceClaims) -> Principal:
    """The caller as the database knows participants: their person, and for staff their service."""
    return Principal(claims.sub, claims.service if claims.role == "staff" else None)


async def authorize(
    session: AsyncSession, claims: ServiceClaims, stafettlogg_id: str, action: Action
) -> StafettloggRow:
    """Load the log and decide (one query) whether the caller may perform `action` on it.

    Guarantees when it returns: the log exists and `access.decide` allowed the action for this
    caller's participation and the log's status. Raises 404 for an unknown log, 403 otherwise."""
    found = await models.log_with_caller_roles(session, stafettlogg_id, principal_of(claims))
    if found is None:
        raise ProblemError(404, "stafettlogg-not-found", "There is no such stafettlogg")
    log, roles = found
    require(decide(claims, action, participation=Participation(roles), status=log.status))
    return log


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
    participant_rows = [
        ParticipantRow(
            stafettlogg_id=request.id, kind=kind, principal_id=principal_id, role=role, added_at=now
        )
        for (kind, principal_id), role in participants.items()
    ]
    grant_rows = [_grant_row(request.id, grant) for grant in request.key_grants]
    try:
        session.add(log)
        await session.flush()
        session.add_all([*participant_rows, *grant_rows])
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
    )
    return view, True


async def read_stafettlogg(
    session: AsyncSession, claims: ServiceClaims, stafettlogg_id: str
) -> StafettloggView:
    """The log for a participant, with only the key grants the caller can open."""
    log = await authorize(session, claims, stafettlogg_id, Action.READ_STAFETTLOGG)
    return (await _views(session, [log], principal_of(claims)))[0]


async def list_stafettlogger(
    session: AsyncSession, claims: ServiceClaims, *, cursor: str | None, limit: int
) -> StafettloggPage:
    """The logs the caller takes part in (as a person or through their service), newest first.
    Three queries per page, whatever the number of logs."""
    principal = principal_of(claims)
    rows = await models.logs_page_for_principal(
        session, principal, before_seq=decode_cursor(cursor), limit=limit + 1
    )
    page = list(rows[:limit])
    next_cursor = encode_cursor(page[-1].seq) if len(rows) > limit and page else None
    return StafettloggPage(items=await _views(session, page, principal), next_cursor=next_cursor)


async def add_participant(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewParticipantRequest,
) -> tuple[ParticipantView, bool]:
    """Add a participant with key grants for them; return its view and whether it is new.

    Guarantees: only a coordinator adds; every grant is for the new participant and for an epoch
    that exists. Repeating an identical request returns the stored participant; adding one who
    is already there with another role or other grants is a 409."""
    log = await authorize(session, claims, stafettlogg_id, Action.ADD_PARTICIPANT)
    new = request.participant
    epochs: set[int] = set()
    for grant in request.key_grants:
        if grant.recipient_kind != new.kind or grant.recipient_id != new.principal_id:
            raise _invalid_grant("Every key grant must be for the new participant")
        if grant.epoch > log.current_epoch:
            raise _invalid_grant(f"Key grants can be for epochs 1 to {log.current_epoch}")
        if grant.epoch in epochs:
            raise _invalid_grant("Give one key grant per epoch")
        epochs.add(grant.epoch)
    now = datetime.now(UTC)
    row = ParticipantRow(
        stafettlogg_id=stafettlogg_id,
        kind=new.kind,
        principal_id=new.principal_id,
        role=new.role,
        added_at=now,
    )
    try:
        session.add_all([row, *(_grant_row(stafettlogg_id, g) for g in request.key_grants)])
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await models.participant(session, stafettlogg_id, new.kind, new.principal_id)
        if existing is None or existing.role != new.role:
            raise _participant_exists() from None
        stored = await models.grants_of_recipient(
            session, stafettlogg_id, new.kind, new.principal_id
        )
        stored_pairs = {(grant.epoch, grant.wrapped_key) for grant in stored}
        if any((g.epoch, g.wrapped_key) not in stored_pairs for g in request.key_grants):
            raise _participant_exists() from None
        return _participant_view(existing), False
    return _participant_view(row), True


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
        )
        for log in logs
    ]


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
