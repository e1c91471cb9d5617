"""Consent: given (or refused) by a guardian or the young person to a *service unit*, for some
kinds of information, for a time; withdrawn later. A service unit takes part in a log only while it
holds a consent that is given, not withdrawn, and current — decided at each request from
`valid_until` (services.logg.access), so nothing has to run when a consent expires.

Consent is given in the portal (method `portal`, with the login level `acr` from the giver's
token) or on paper and recorded by the coordinator (method `paper`, with the scan of the form
sealed like an entry, type `consent_scan`). A refusal is recorded the same way, status `refused`.
Scopes are the closed set shared.wire.CONSENT_SCOPES; logg records them but cannot enforce them
on sealed content: the portal shows them to the writer.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.authentication import sign_key_of
from services.logg.epochs import participant_left
from services.logg.guard import authorize, record_replay
from services.logg.models import ConsentRow, ConsentScanRow, StafettloggRow
from services.logg.paging import cut_page, decode_cursor
from services.logg.sealing import check_envelope, decode_sealed, encode_sealed
from shared.crypto.envelope import SealedEnvelope
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    CONSENT_SCAN_TYPE,
    ConsentMethod,
    ConsentPage,
    ConsentScope,
    ConsentStatus,
    ConsentView,
    NewConsent,
    WithdrawalRequest,
)

__all__ = [
    "MAX_SCAN_CIPHERTEXT",
    "ScanPurpose",
    "consent_view",
    "page_consents",
    "read_consent_scan",
    "record_consent",
    "withdraw_consent",
]

MAX_SCAN_CIPHERTEXT = 5 * 1024 * 1024 + 28  # a 5 MiB scan, sealed (nonce and tag)
ScanPurpose = str  # "consent" | "withdrawal"
_encoder = msgspec.msgpack.Encoder()
_EARLIEST, _LATEST = 2000, 2199
_STATUSES: dict[str, ConsentStatus] = {
    "given": "given",
    "refused": "refused",
    "withdrawn": "withdrawn",
}
_METHODS: dict[str, ConsentMethod] = {"portal": "portal", "paper": "paper"}
_SCOPES: dict[str, ConsentScope] = {
    "all": "all",
    "health": "health",
    "school": "school",
    "welfare": "welfare",
}


async def record_consent(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewConsent,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[ConsentView, bool]:
    """Record a consent or refusal given in the portal or on paper (see `NewConsent`)."""
    if request.method == "paper":
        if request.given_by is None or request.scan is None:
            raise ProblemError(
                400,
                "scan-required",
                "Consent on paper needs who gave it and the form's scan",
                "Send given_by and the sealed scan",
            )
        return await _record_paper_consent(
            session, claims, stafettlogg_id, request, request.given_by, request.scan, policy
        )
    if request.given_by is not None or request.scan is not None:
        raise ProblemError(
            400,
            "invalid-request",
            "Consent in the portal is given by you, without a scan",
            "Leave out given_by and scan, or use method paper",
        )
    return await _give_consent(session, claims, stafettlogg_id, request, policy)


async def _give_consent(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewConsent,
    policy: Policy,
) -> tuple[ConsentView, bool]:
    """Record a consent or refusal the caller gives in the portal; return it and whether new.

    Guarantees: only a guardian or youth taking part in the open log gives it; the giver is the
    caller and the login level their token's `acr`. A retry of the same request returns the
    stored record; another request under the same id is a 409."""
    _check_period(request.valid_from, request.valid_until)
    await authorize(session, claims, stafettlogg_id, Action.GIVE_CONSENT, policy=policy)
    row = _consent_row(
        stafettlogg_id,
        request.id,
        request.service_id,
        request.status,
        request.scopes,
        request.valid_from,
        request.valid_until,
        method="portal",
        given_by=claims.sub,
        acr=claims.acr,
        recorded_by=claims.sub,
        digest=_digest(request),
        history=request.history and request.status == "given",
    )
    return await _store(session, claims, stafettlogg_id, row, None, Action.GIVE_CONSENT)


async def _record_paper_consent(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewConsent,
    given_by: str,
    scan: SealedEnvelope,
    policy: Policy,
) -> tuple[ConsentView, bool]:
    """Record a consent or refusal given on paper, with its sealed scan (coordinator only).

    Guarantees: the scan's header names this log, the current epoch, the caller as author, type
    `consent_scan` and the consent's id as entry id, and the caller signed it; the scan is at
    most 5 MiB. Idempotent as `give_consent`."""
    _check_period(request.valid_from, request.valid_until)
    log = (
        await authorize(session, claims, stafettlogg_id, Action.RECORD_PAPER_CONSENT, policy=policy)
    ).log
    _check_scan(claims, log, scan, entry_id=request.id)
    row = _consent_row(
        stafettlogg_id,
        request.id,
        request.service_id,
        request.status,
        request.scopes,
        request.valid_from,
        request.valid_until,
        method="paper",
        given_by=given_by,
        acr=None,
        recorded_by=claims.sub,
        digest=_digest(request),
        history=request.history and request.status == "given",
    )
    row.has_scan = True
    scan_row = ConsentScanRow(
        stafettlogg_id=stafettlogg_id,
        consent_id=request.id,
        purpose="consent",
        sealed=encode_sealed(scan),
    )
    return await _store(session, claims, stafettlogg_id, row, scan_row, Action.RECORD_PAPER_CONSENT)


async def withdraw_consent(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    consent_id: str,
    request: WithdrawalRequest,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> ConsentView:
    """Withdraw a given consent: in the portal by a guardian or youth, or on paper recorded by
    the coordinator with the sealed scan of the withdrawal.

    Guarantees: from the commit on, the service unit's next request for the log is refused
    (unless another consent of it is still valid). Withdrawing a consent already withdrawn
    returns it unchanged (a safe retry); a refusal cannot be withdrawn (409).

    When the service unit holds no other valid consent, its key grants are deleted in the same
    commit and entries are refused until the next key epoch is granted to those who remain
    (services.logg.epochs)."""
    paper = request.method == "paper"
    if paper and request.scan is None:
        raise ProblemError(
            400, "scan-required", "A withdrawal on paper needs its scan", "Attach the sealed scan"
        )
    if not paper and request.scan is not None:
        raise ProblemError(
            400, "invalid-request", "A withdrawal in the portal has no scan", "Leave out scan"
        )
    action = Action.RECORD_PAPER_WITHDRAWAL if paper else Action.WITHDRAW_CONSENT
    log = (await authorize(session, claims, stafettlogg_id, action, policy=policy)).log
    if request.scan is not None:
        _check_scan(claims, log, request.scan, entry_id=None)
    existing = await models.consent_by_id(session, stafettlogg_id, consent_id)
    if existing is None:
        await session.commit()
        raise ProblemError(404, "consent-not-found", "There is no such consent in this log")
    if existing.status == "refused":
        await session.commit()
        raise ProblemError(
            409,
            "consent-not-given",
            "A refusal cannot be withdrawn",
            "Record a new consent instead",
        )
    if existing.status == "withdrawn":
        await session.commit()
        return consent_view(existing)
    now = datetime.now(UTC)
    result = await session.execute(
        update(ConsentRow)
        .where(ConsentRow.seq == existing.seq, ConsentRow.status == "given")
        .values(
            status="withdrawn",
            withdrawn_at=now,
            withdrawn_by=claims.sub,
            withdrawal_method=request.method,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) and request.scan is not None:
        session.add(
            ConsentScanRow(
                stafettlogg_id=stafettlogg_id,
                consent_id=consent_id,
                purpose="withdrawal",
                sealed=encode_sealed(request.scan),
            )
        )
    await _after_withdrawal(session, log, existing.service_id)
    await session.commit()
    await session.refresh(existing)
    return consent_view(existing)


async def _after_withdrawal(session: AsyncSession, log: StafettloggRow, service_id: str) -> None:
    """The service unit has left unless another of its consents is still valid: then delete its
    key grants and require the next key epoch (`epochs.participant_left`). logg holds no key, so
    a writer in the portal starts that epoch."""
    if await models.service_departed(session, log.id, service_id, datetime.now(UTC)):
        await participant_left(session, log, "service", service_id)


async def page_consents(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    cursor: str | None,
    limit: int,
    policy: Policy = CONSENT_REQUIRED,
) -> ConsentPage:
    """A participant's page of the log's consent records, newest first."""
    before_seq = decode_cursor(cursor)
    await authorize(session, claims, stafettlogg_id, Action.READ_CONSENTS, policy=policy)
    await session.commit()
    rows = await models.consents_page(
        session, stafettlogg_id, before_seq=before_seq, limit=limit + 1
    )
    page, next_cursor = cut_page(rows, limit, lambda row: row.seq)
    return ConsentPage(items=[consent_view(row) for row in page], next_cursor=next_cursor)


async def read_consent_scan(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    consent_id: str,
    purpose: ScanPurpose,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> SealedEnvelope:
    """The sealed scan of a paper consent or withdrawal (guardians and the coordinator only)."""
    await authorize(
        session,
        claims,
        stafettlogg_id,
        Action.READ_CONSENT_SCAN,
        policy=policy,
        entry_id=consent_id,
    )
    await session.commit()
    scan = await models.consent_scan(session, stafettlogg_id, consent_id, purpose)
    if scan is None:
        raise ProblemError(404, "scan-not-found", "There is no such scan")
    return decode_sealed(scan.sealed)


def consent_view(row: ConsentRow, now: datetime | None = None) -> ConsentView:
    moment = now or datetime.now(UTC)
    return ConsentView(
        id=row.id,
        service_id=row.service_id,
        status=_STATUSES[row.status],
        scopes=[_SCOPES[scope] for scope in row.scopes.split(",") if scope in _SCOPES],
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        method=_METHODS[row.method],
        given_by=row.given_by,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        acr=row.acr,
        has_scan=row.has_scan,
        valid_now=row.status == "given" and row.valid_from <= moment < row.valid_until,
        withdrawn_at=row.withdrawn_at,
        withdrawn_by=row.withdrawn_by,
        withdrawal_method=_METHODS[row.withdrawal_method] if row.withdrawal_method else None,
        history=row.history,
    )


async def _store(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    row: ConsentRow,
    scan: ConsentScanRow | None,
    action: Action,
) -> tuple[ConsentView, bool]:
    try:
        session.add(row)
        if scan is not None:
            session.add(scan)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await models.consent_by_id(session, stafettlogg_id, row.id)
        if (
            existing is None
            or existing.request_digest != row.request_digest
            or existing.recorded_by != claims.sub
        ):
            raise ProblemError(
                409,
                "consent-exists",
                "A consent with this id already exists",
                "Choose a new id; a retry must repeat the first request exactly",
            ) from None
        await record_replay(session, claims, stafettlogg_id, action)
        await session.commit()
        return consent_view(existing), False
    return consent_view(row), True


def _consent_row(
    stafettlogg_id: str,
    consent_id: str,
    service_id: str,
    status: str,
    scopes: list[ConsentScope],
    valid_from: datetime,
    valid_until: datetime,
    *,
    method: str,
    given_by: str,
    acr: str | None,
    recorded_by: str,
    digest: bytes,
    history: bool = False,
) -> ConsentRow:
    return ConsentRow(
        id=consent_id,
        stafettlogg_id=stafettlogg_id,
        service_id=service_id,
        status=status,
        scopes=",".join(sorted(set(scopes))),
        valid_from=valid_from,
        valid_until=valid_until,
        method=method,
        given_by=given_by,
        acr=acr[:128] if acr else None,
        recorded_by=recorded_by,
        recorded_at=datetime.now(UTC),
        request_digest=digest,
        has_scan=False,
        history=history,
    )


def _check_period(valid_from: datetime, valid_until: datetime) -> None:
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        raise _invalid_period("Give valid_from and valid_until with a time zone (e.g. Z)")
    if not (valid_from.year >= _EARLIEST and valid_until.year <= _LATEST):
        raise _invalid_period(f"Give dates between the years {_EARLIEST} and {_LATEST}")
    if valid_until <= valid_from:
        raise _invalid_period("valid_until must be after valid_from")


def _invalid_period(detail: str) -> ProblemError:
    return ProblemError(400, "invalid-consent-period", "The consent's period does not fit", detail)


def _check_scan(
    claims: ServiceClaims, log: StafettloggRow, scan: SealedEnvelope, *, entry_id: str | None
) -> None:
    check_envelope(
        scan,
        stafettlogg_id=log.id,
        epoch=log.current_epoch,
        author=claims.sub,
        types=(CONSENT_SCAN_TYPE,),
        author_key=sign_key_of(claims),
        max_ciphertext=MAX_SCAN_CIPHERTEXT,
    )
    if entry_id is not None and scan.header.entry_id != entry_id:
        raise ProblemError(
            400,
            "header-mismatch",
            "The envelope's header does not fit",
            "The scan's entry_id must be the consent's id",
        )


def _digest(request: msgspec.Struct) -> bytes:
    return hashlib.sha256(_encoder.encode(request)).digest()
