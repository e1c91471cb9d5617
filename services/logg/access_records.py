"""Reading the access log (innsynslogg) of a stafettlogg: who read or wrote what, and when.

The guardians (and the young person) and the coordinator may read it; the portal shows it as
«who has read your child's log». Every read of it is itself recorded.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.audit import AccessHeadSigner
from services.logg.guard import authorize
from services.logg.models import AccessRecordRow
from services.logg.paging import cut_page, decode_cursor
from shared.tokens import ServiceClaims
from shared.wire import AccessRecordPage, AccessRecordView, SignedAccessHead

__all__ = ["page_access_records", "sign_access_head"]


async def page_access_records(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    cursor: str | None,
    limit: int,
    policy: Policy = CONSENT_REQUIRED,
) -> AccessRecordPage:
    """A page of the log's access records, newest first (this request's own record included)."""
    before_seq = decode_cursor(cursor)
    await authorize(session, claims, stafettlogg_id, Action.READ_ACCESS_LOG, policy=policy)
    await session.commit()
    rows = await models.access_records_page(
        session, stafettlogg_id, before_seq=before_seq, limit=limit + 1
    )
    page, next_cursor = cut_page(rows, limit, lambda row: row.seq)
    return AccessRecordPage(items=[_view(row) for row in page], next_cursor=next_cursor)


async def sign_access_head(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    signer: AccessHeadSigner,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> SignedAccessHead:
    """Sign, store and return the head of the log's access record chain (which includes the
    record of this very request)."""
    await authorize(session, claims, stafettlogg_id, Action.READ_ACCESS_LOG, policy=policy)
    row = await signer.sign_head(session, stafettlogg_id)
    await session.commit()
    return SignedAccessHead(
        stafettlogg_id=row.stafettlogg_id,
        seq=row.seq,
        head_hash=row.head_hash.hex(),
        signed_at=row.signed_at,
        key_id=row.key_id,
        signature=row.signature,
    )


def _view(row: AccessRecordRow) -> AccessRecordView:
    return AccessRecordView(
        seq=row.seq,
        at=row.at,
        subject=row.subject,
        caller_role=row.caller_role,
        service=row.service,
        roles=row.roles.split(",") if row.roles else [],
        action=row.action,
        entry_id=row.entry_id,
        decision="allowed" if row.decision == "allowed" else "denied",
        reason=row.reason,
        record_hash=bytes(row.record_hash).hex(),
    )
