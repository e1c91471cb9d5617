"""Erasure by crypto-shredding: a whole closed log, or one entry — key material first, then rows.

logg holds no key that opens an entry, but it holds every participant's key grant (an epoch key
wrapped for them) and every entry's sealed envelope (its per-entry key wrapped under the epoch
key, and the ciphertext). Destroying those is what makes the content unreadable for good:

- a whole log (`erase_stafettlogg`): in a first commit every key grant of the log (all epochs,
  everyone) is deleted, together with the erasure record and the access record of the erasure;
  in a second commit the rows: entries, consent scans, consents, level changes, handovers,
  participants and the log itself (its sealed description). If the second commit never happens,
  what is left is ciphertext no grant opens, and a retry finishes it;
- one entry (`erase_entry`): its row — the only copy of its wrapped per-entry key and its
  ciphertext — is deleted in one commit with the erasure record and the access record, so that
  not even a participant holding every epoch key can open it again.

Kept, because archive law (arkivlova § 6 and Noark 5's rules on kassasjon: what was destroyed,
when, by whom, under what authority) asks for it: the access log (innsynslogg) with its signed
heads, which records who read and wrote the log and now the erasure itself; and the erasure
record (the log's id, created and closed dates, who erased, when and why, and how many rows of
each kind were destroyed). Neither holds content or a key. What this does not reach: backups of
logg's database taken before the erasure (they still hold the grants until they expire), copies
a participant made while they could read, and the archive copy the municipality's records
system took when the log was closed (docs/security.md, Erasure).
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.guard import authorize, record_replay
from services.logg.models import (
    AccessHeadSignatureRow,
    AccessRecordRow,
    ConsentRow,
    ConsentScanRow,
    EntryRow,
    ErasureRow,
    HandoverRow,
    KeyGrantRow,
    LevelChangeRow,
    ParticipantRow,
    StafettloggRow,
)
from shared.db import WalNotTruncatedError, forget_deleted_pages
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import ErasureCounts, ErasureReport, ErasureRequest, KeptRecord

__all__ = ["erase_entry", "erase_stafettlogg"]

_WHOLE_LOG = ""  # ErasureRow.entry_id of a whole log's erasure

# Why each kind of record outlives the erasure (KeptRecord.why).
_WHY_ACCESS_LOG = (
    "The access log (innsynslogg) shows who read and wrote the log and who erased it; archive "
    "law (arkivlova § 6, Noark 5 kassasjon) requires a record of what was destroyed, and the "
    "family's right of access covers it. It holds no content and no key."
)
_WHY_HEADS = "Signed heads prove the access log was not altered before or after the erasure."
_WHY_ERASURE = (
    "The fact that the log existed: its id, created and closed dates, who erased it, when and "
    "why, and how much was destroyed (Noark 5: a destroyed record leaves a trace)."
)
_WHY_REST_OF_LOG = "Only the one entry was erased; the log and its other entries stay."


async def erase_stafettlogg(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: ErasureRequest,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[ErasureReport, bool]:
    """Crypto-shred a closed log; return the report and whether this request did it.

    Guarantees on return: logg stores no key grant, no sealed description, no entry, no consent
    or scan and no participant of the log; the access log holds an allowed record of the
    erasure (and of any refusal); the erasure record says what was destroyed. Only a municipal
    administrator, only a closed log (services.logg.access). A retry after success returns the
    stored report (200); a retry after the first commit finishes the erasure."""
    done = await _erasure_row(session, stafettlogg_id, _WHOLE_LOG)
    log = await models.stafettlogg_by_id(session, stafettlogg_id)
    if done is not None and log is None and claims.admin and claims.role == "staff":
        await record_replay(session, claims, stafettlogg_id, Action.ERASE_STAFETTLOGG)
        await session.commit()
        await _forget_deleted_pages(session)  # a retry after a 503 erasure-not-flushed
        return await _report(session, done), False
    if done is None:
        await authorize(session, claims, stafettlogg_id, Action.ERASE_STAFETTLOGG, policy=policy)
        locked = await models.lock_stafettlogg(session, stafettlogg_id)
        if locked is None or locked.status != "closed":  # erased, or reopened, meanwhile
            await session.rollback()
            raced = await _erasure_row(session, stafettlogg_id, _WHOLE_LOG)
            if raced is None:
                raise ProblemError(409, "erasure-conflict", "The stafettlogg changed; try again")
            return await _report(session, raced), False
        counts = await _count_rows(session, stafettlogg_id)
        done = ErasureRow(
            stafettlogg_id=stafettlogg_id,
            scope="stafettlogg",
            entry_id=_WHOLE_LOG,
            erased_at=datetime.now(UTC),
            erased_by=claims.sub,
            reason=request.reason,
            log_created_at=locked.created_at,
            log_closed_at=locked.closed_at,
            deleted=msgspec.json.encode(counts),
        )
        session.add(done)
        # Key material first: with the grants gone, nothing below opens, whatever happens next.
        await _delete(session, KeyGrantRow, stafettlogg_id)
        await session.commit()
        created = True
    else:  # an erasure whose second commit did not happen: finish it, as the administrator
        await authorize(session, claims, stafettlogg_id, Action.ERASE_STAFETTLOGG, policy=policy)
        created = False
    for table in (EntryRow, ConsentScanRow, ConsentRow, LevelChangeRow, HandoverRow):
        await _delete(session, table, stafettlogg_id)
    await _delete(session, KeyGrantRow, stafettlogg_id)  # none; a retry after a crash
    await _delete(session, ParticipantRow, stafettlogg_id)
    await session.execute(delete(StafettloggRow).where(StafettloggRow.id == stafettlogg_id))
    await session.commit()
    await _forget_deleted_pages(session)
    return await _report(session, done), created


async def _forget_deleted_pages(session: AsyncSession) -> None:
    """`shared.db.forget_deleted_pages`, or a 503 the caller can retry (the erasure is
    committed; the retry answers with its report and truncates the WAL again)."""
    try:
        await forget_deleted_pages(session)
    except WalNotTruncatedError as error:
        raise ProblemError(
            503,
            "erasure-not-flushed",
            "Erased, but old copies may still be in the database's write-ahead log",
            "Send the same request again in a moment",
        ) from error


async def erase_entry(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    entry_id: str,
    request: ErasureRequest,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[ErasureReport, bool]:
    """Crypto-shred one entry; return the report and whether this request did it.

    Guarantees on return: the entry's sealed envelope — its wrapped per-entry key and its
    ciphertext, the only copy logg had — is deleted, so no epoch key opens it any more; the
    access log holds the erasure; the erasure record keeps the entry's id and the reason. Entries
    that refer to it (a correction) stay, and still name its id. Only a municipal administrator.
    Does not rotate the epoch: the entry's key was its own (docs/crypto.md)."""
    await authorize(
        session, claims, stafettlogg_id, Action.ERASE_ENTRY, policy=policy, entry_id=entry_id
    )
    done = await _erasure_row(session, stafettlogg_id, entry_id)
    if done is not None:
        await session.commit()
        await _forget_deleted_pages(session)  # a retry after a 503 erasure-not-flushed
        return await _report(session, done), False
    result = await session.execute(
        delete(EntryRow)
        .where(EntryRow.stafettlogg_id == stafettlogg_id, EntryRow.id == entry_id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        await session.rollback()
        raise ProblemError(404, "entry-not-found", "There is no such entry in this stafettlogg")
    done = ErasureRow(
        stafettlogg_id=stafettlogg_id,
        scope="entry",
        entry_id=entry_id,
        erased_at=datetime.now(UTC),
        erased_by=claims.sub,
        reason=request.reason,
        deleted=msgspec.json.encode(ErasureCounts(entries=1)),
    )
    session.add(done)
    await session.commit()
    await _forget_deleted_pages(session)
    return await _report(session, done), True


async def _erasure_row(
    session: AsyncSession, stafettlogg_id: str, entry_id: str
) -> ErasureRow | None:
    result = await session.execute(
        select(ErasureRow).where(
            ErasureRow.stafettlogg_id == stafettlogg_id, ErasureRow.entry_id == entry_id
        )
    )
    return result.scalar_one_or_none()


_COUNTED = {
    "key_grants": KeyGrantRow,
    "entries": EntryRow,
    "participants": ParticipantRow,
    "consents": ConsentRow,
    "consent_scans": ConsentScanRow,
    "level_changes": LevelChangeRow,
    "handovers": HandoverRow,
}


async def _count_rows(session: AsyncSession, stafettlogg_id: str) -> ErasureCounts:
    counts: dict[str, int] = {}
    for name, table in _COUNTED.items():
        counts[name] = await _count(session, table, stafettlogg_id)
    return ErasureCounts(**counts)


async def _count(session: AsyncSession, table: type[models.Base], stafettlogg_id: str) -> int:
    column = table.__table__.c.stafettlogg_id
    result = await session.execute(
        select(func.count()).select_from(table).where(column == stafettlogg_id)
    )
    return int(result.scalar_one())


async def _delete(session: AsyncSession, table: type[models.Base], stafettlogg_id: str) -> None:
    column = table.__table__.c.stafettlogg_id
    await session.execute(
        delete(table).where(column == stafettlogg_id).execution_options(synchronize_session=False)
    )


async def _report(session: AsyncSession, row: ErasureRow) -> ErasureReport:
    """The report of a stored erasure, with what is kept counted as of now."""
    records = await _count(session, AccessRecordRow, row.stafettlogg_id)
    heads = await _count(session, AccessHeadSignatureRow, row.stafettlogg_id)
    kept = [
        KeptRecord(what="access-records", count=records, why=_WHY_ACCESS_LOG),
        KeptRecord(what="access-head-signatures", count=heads, why=_WHY_HEADS),
        KeptRecord(what="erasure-record", count=1, why=_WHY_ERASURE),
    ]
    if row.scope == "entry":
        entries = await _count(session, EntryRow, row.stafettlogg_id)
        kept.append(KeptRecord(what="other-entries", count=entries, why=_WHY_REST_OF_LOG))
    return ErasureReport(
        stafettlogg_id=row.stafettlogg_id,
        scope="entry" if row.scope == "entry" else "stafettlogg",
        erased_at=row.erased_at,
        erased_by=row.erased_by,
        reason=row.reason,
        deleted=msgspec.json.decode(row.deleted, type=ErasureCounts),
        kept=kept,
        entry_id=row.entry_id or None,
        stafettlogg_created_at=row.log_created_at,
        stafettlogg_closed_at=row.log_closed_at,
    )
