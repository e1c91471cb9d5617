"""Entries: writing a sealed entry into a stafettlogg and reading them back a page at a time.

The write path is one access query, one insert and one commit. Reading a page is one range scan
of the (stafettlogg_id, seq) index.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import Action
from services.logg.authentication import sign_key_of
from services.logg.models import EntryRow
from services.logg.paging import decode_cursor, encode_cursor
from services.logg.sealing import check_envelope, decode_sealed, encode_sealed
from services.logg.stafettlogger import authorize
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import ENTRY_TYPES, EntryPage, EntryView, NewEntry

__all__ = ["page_entries", "write_entry"]


async def write_entry(
    session: AsyncSession, claims: ServiceClaims, stafettlogg_id: str, request: NewEntry
) -> tuple[EntryView, bool]:
    """Store a sealed entry; return its view and whether it is new.

    Guarantees: the caller is a coordinator or writer of this open log; the header names this
    log, the current epoch, the caller as author, a known type and a time within 10 minutes of
    now; the caller's signing key signed it. Retrying with the same envelope returns the stored
    entry; another envelope under the same entry id is a 409."""
    log = await authorize(session, claims, stafettlogg_id, Action.WRITE_ENTRY)
    sealed = request.sealed
    stored_form = encode_sealed(sealed)
    author_key = sign_key_of(claims)
    now = datetime.now(UTC)
    try:
        created_at = check_envelope(
            sealed,
            stafettlogg_id=stafettlogg_id,
            epoch=log.current_epoch,
            author=claims.sub,
            types=ENTRY_TYPES,
            author_key=author_key,
            now=now,
        )
    except ProblemError as error:
        if error.slug not in {"clock-skew", "wrong-epoch"}:
            raise
        # A late retry of an entry that was stored in time (or before the epoch moved on).
        existing = await models.entry_by_id(session, stafettlogg_id, sealed.header.entry_id)
        if existing is None or existing.sealed != stored_form:
            raise
        return _entry_view(existing), False
    row = EntryRow(
        id=sealed.header.entry_id,
        stafettlogg_id=stafettlogg_id,
        epoch=sealed.header.epoch,
        author=claims.sub,
        type=sealed.header.type,
        created_at=created_at,
        stored_at=now,
        sealed=stored_form,
        author_sign_key=author_key.public_bytes_raw(),
    )
    try:
        session.add(row)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await models.entry_by_id(session, stafettlogg_id, sealed.header.entry_id)
        if existing is None or existing.sealed != stored_form:
            raise ProblemError(
                409,
                "entry-exists",
                "An entry with this id already exists",
                "Choose a new entry id; a retry must repeat the first request exactly",
            ) from None
        return _entry_view(existing), False
    return EntryView(id=row.id, sealed=sealed, stored_at=now), True


async def page_entries(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> EntryPage:
    """A participant's page of entries, newest first, after `cursor`."""
    before_seq = decode_cursor(cursor)
    await authorize(session, claims, stafettlogg_id, Action.READ_ENTRIES)
    rows = await models.entries_page(
        session, stafettlogg_id, before_seq=before_seq, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].seq) if len(rows) > limit and page else None
    return EntryPage(items=[_entry_view(row) for row in page], next_cursor=next_cursor)


def _entry_view(row: EntryRow) -> EntryView:
    return EntryView(id=row.id, sealed=decode_sealed(row.sealed), stored_at=row.stored_at)
