"""Entries: writing a sealed entry into a stafettlogg and reading them back a page at a time.

Entries are never changed in place: a correction is a new entry of type `correction` whose
`refers_to` names the entry it corrects; both stay. logg sees in clear only the type, the entry
referred to and, for measures and meetings, the date they are due (docs/security.md).

The write path is one access query (log, roles, consent and access-record head together), the
access record insert, the entry insert and one commit. Reading a page is the access query, the
record insert and one range scan of the (stafettlogg_id, seq) index, then one commit; a filtered
page (by type, by the entries referred to, by id) reads index ranges of its filter instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, TypedDict

import msgspec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import QueryParameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.access import CONSENT_REQUIRED, Action, Policy
from services.logg.authentication import sign_key_of
from services.logg.guard import authorize_light, record_replay
from services.logg.models import Base, EntryRow, LogFacts, StafettloggRow
from services.logg.paging import cut_page, decode_cursor
from services.logg.sealing import check_envelope, decode_sealed, encode_sealed
from shared.crypto.envelope import SealedEnvelope
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    ENTRY_TYPES,
    MAX_ENTRY_FILTER_IDS,
    EntryPage,
    EntryType,
    EntryView,
    NewEntry,
)

__all__ = [
    "EntryValues",
    "IdFilter",
    "ReferringFilter",
    "TypeFilter",
    "check_entry",
    "entry_view",
    "page_entries",
    "stage_entry",
    "write_entry",
]

# level_change entries are written only through POST .../level (they change the log as well).
_WRITABLE_TYPES = ENTRY_TYPES
_DUE_TYPES = frozenset({"measure", "meeting"})
# What `refers_to` must name, by entry type (None: any entry of the log).
_REFERS_TO: dict[str, frozenset[str] | None] = {
    "correction": None,
    "evaluation": frozenset({"measure"}),
    "minutes": frozenset({"meeting"}),
    "meeting_response": frozenset({"meeting"}),
}
_MUST_REFER = frozenset({"correction", "evaluation", "meeting_response"})


async def write_entry(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    request: NewEntry,
    *,
    policy: Policy = CONSENT_REQUIRED,
) -> tuple[EntryView, bool]:
    """Store a sealed entry; return its view and whether it is new.

    Guarantees: the caller is a coordinator or writer of this open log; the header names this
    log, the current epoch, the caller as author, a known type and a time within 10 minutes of
    now; the caller's signing key signed it; `refers_to` names an entry of this log of the kind
    the type needs; `due_on` is given only for measures and meetings. Retrying the same request
    returns the stored entry; another request under the same entry id is a 409."""
    entry_id = request.sealed.header.entry_id
    log = (
        await authorize_light(
            session, claims, stafettlogg_id, Action.WRITE_ENTRY, policy=policy, entry_id=entry_id
        )
    ).log
    try:
        values = await check_entry(session, claims, log, request, types=_WRITABLE_TYPES)
    except ProblemError as error:
        if error.slug not in {"clock-skew", "wrong-epoch"}:
            raise
        # A late retry of an entry that was stored in time (or before the epoch moved on).
        existing = await models.entry_by_id(session, stafettlogg_id, entry_id)
        if existing is None or not _same_entry(existing, request):
            raise
        await session.commit()
        return entry_view(existing), False
    try:
        # One Core INSERT (cheaper than an ORM flush); a taken entry id fails here or at commit.
        await (await session.connection()).execute(_INSERT_ENTRY, values)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await models.entry_by_id(session, stafettlogg_id, entry_id)
        if existing is None or not _same_entry(existing, request):
            raise _entry_exists() from None
        await record_replay(session, claims, stafettlogg_id, Action.WRITE_ENTRY, entry_id=entry_id)
        await session.commit()
        return entry_view(existing), False
    return _new_entry_view(values, request.sealed), True


async def stage_entry(
    session: AsyncSession,
    claims: ServiceClaims,
    log: StafettloggRow,
    request: NewEntry,
    *,
    types: tuple[str, ...],
) -> EntryRow:
    """Check a sealed entry for this log and add it to the session (the caller commits)."""
    row = EntryRow(**await check_entry(session, claims, log, request, types=types))
    session.add(row)
    return row


_INSERT_ENTRY = Base.metadata.tables[EntryRow.__tablename__].insert()


class EntryValues(TypedDict):
    """A checked entry's columns (all but seq, the database's): the INSERT's parameters, or an
    `EntryRow`'s (no ORM object on the hot write path)."""

    id: str
    stafettlogg_id: str
    epoch: int
    author: str
    type: str
    created_at: datetime
    stored_at: datetime
    sealed: bytes
    author_sign_key: bytes
    refers_to: str | None
    due_on: date | None


async def check_entry(
    session: AsyncSession,
    claims: ServiceClaims,
    log: StafettloggRow | LogFacts,
    request: NewEntry,
    *,
    types: tuple[str, ...],
) -> EntryValues:
    """Check a sealed entry for this log and return its columns (nothing is added)."""
    sealed = request.sealed
    stafettlogg_id = log.id
    stored_form = encode_sealed(sealed)
    author_key = sign_key_of(claims)
    now = datetime.now(UTC)
    created_at = check_envelope(
        sealed,
        stafettlogg_id=stafettlogg_id,
        epoch=log.current_epoch,
        author=claims.sub,
        types=types,
        author_key=author_key,
        now=now,
    )
    await _check_links(session, stafettlogg_id, sealed.header.type, request)
    return EntryValues(
        id=sealed.header.entry_id,
        stafettlogg_id=stafettlogg_id,
        epoch=sealed.header.epoch,
        author=claims.sub,
        type=sealed.header.type,
        created_at=created_at,
        stored_at=now,
        sealed=stored_form,
        author_sign_key=author_key.public_bytes_raw(),
        refers_to=request.refers_to,
        due_on=request.due_on,
    )


async def _check_links(
    session: AsyncSession, stafettlogg_id: str, entry_type: str, request: NewEntry
) -> None:
    if request.due_on is not None and entry_type not in _DUE_TYPES:
        raise _invalid_link("Only a measure or a meeting has a due date (due_on)")
    if request.refers_to is None:
        if entry_type in _MUST_REFER:
            raise _invalid_link(f"An entry of type {entry_type} must name the entry in refers_to")
        return
    if request.refers_to == request.sealed.header.entry_id:
        raise _invalid_link("An entry cannot refer to itself")
    target = await models.entry_by_id(session, stafettlogg_id, request.refers_to)
    if target is None:
        raise _invalid_link("refers_to names no entry of this stafettlogg")
    wanted = _REFERS_TO.get(entry_type)
    if wanted is not None and target.type not in wanted:
        kinds = " or ".join(sorted(wanted))
        raise _invalid_link(f"An entry of type {entry_type} refers to a {kinds}")


def _same_entry(row: EntryRow, request: NewEntry) -> bool:
    return (
        row.sealed == encode_sealed(request.sealed)
        and row.refers_to == request.refers_to
        and row.due_on == request.due_on
    )


def _invalid_link(detail: str) -> ProblemError:
    return ProblemError(400, "invalid-entry-link", "The entry's link or date does not fit", detail)


def _entry_exists() -> ProblemError:
    return ProblemError(
        409,
        "entry-exists",
        "An entry with this id already exists",
        "Choose a new entry id; a retry must repeat the first request exactly",
    )


async def page_entries(
    session: AsyncSession,
    claims: ServiceClaims,
    stafettlogg_id: str,
    *,
    cursor: str | None,
    limit: int,
    types: Sequence[str] = (),
    refers_to: Sequence[str] = (),
    ids: Sequence[str] = (),
    policy: Policy = CONSENT_REQUIRED,
) -> EntryPage:
    """A participant's page of entries, newest first, after `cursor`, narrowed by every filter
    given: `types` (entry types), `refers_to` (entries that refer to these entry ids), `ids`
    (these entries). Each filter is bounded (400 otherwise) and an index lookup or range, so a
    page costs the same however long the log is (`models.entries_page`)."""
    before_seq = decode_cursor(cursor)
    types, refers_to, ids = _filter(types, ENTRY_TYPES), _ids(refers_to), _ids(ids)
    await authorize_light(session, claims, stafettlogg_id, Action.READ_ENTRIES, policy=policy)
    # Read in the transaction that holds the access record, then commit both: the request keeps
    # the connection (on SQLite the only one) instead of queueing for it a second time.
    rows = await models.entries_page(
        session,
        stafettlogg_id,
        before_seq=before_seq,
        limit=limit + 1,
        types=types,
        refers_to=refers_to,
        ids=ids,
    )
    await session.commit()
    page, next_cursor = cut_page(rows, limit, lambda row: row.seq)
    return EntryPage(items=[entry_view(row) for row in page], next_cursor=next_cursor)


def _filter(values: Sequence[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The distinct values, each one of `allowed` (the route checks this too; the service does
    not trust its callers)."""
    distinct = tuple(dict.fromkeys(values))
    if any(value not in allowed for value in distinct):
        raise _invalid_filter(f"type must be one of {', '.join(allowed)}")
    return distinct


def _ids(values: Sequence[str]) -> tuple[str, ...]:
    distinct = tuple(dict.fromkeys(values))
    if len(distinct) > MAX_ENTRY_FILTER_IDS:
        raise _invalid_filter(f"Name at most {MAX_ENTRY_FILTER_IDS} entry ids in one request")
    if not all(_ENTRY_ID.fullmatch(value) for value in distinct):
        raise _invalid_filter("An entry id is 1 to 64 of A-Z, a-z, 0-9, _ and -")
    return distinct


_ENTRY_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EntryIdItem = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_ENTRY_ID_PATTERN)]


def _id_list(name: str, description: str) -> QueryParameter:
    # Documented as what it is, a repeated query parameter (Litestar would say "array or null").
    return QueryParameter(
        name=name,
        max_items=MAX_ENTRY_FILTER_IDS,
        description=description,
        schema_extra={
            "one_of": None,
            "type": OpenAPIType.ARRAY,
            "items": Schema(
                type=OpenAPIType.STRING, min_length=1, max_length=64, pattern=_ENTRY_ID_PATTERN
            ),
            "max_items": MAX_ENTRY_FILTER_IDS,
        },
    )


TypeFilter = Annotated[
    list[EntryType] | None,
    QueryParameter(
        name="type",
        max_items=len(ENTRY_TYPES),
        description="Only entries of these types (repeat the parameter for several)",
        schema_extra={
            "one_of": None,
            "type": OpenAPIType.ARRAY,
            "items": Schema(type=OpenAPIType.STRING, enum=list(ENTRY_TYPES)),
            "max_items": len(ENTRY_TYPES),
        },
    ),
]
ReferringFilter = Annotated[
    list[_EntryIdItem] | None,
    _id_list(
        "refers_to",
        f"Only entries whose refers_to is one of these entry ids (at most {MAX_ENTRY_FILTER_IDS})",
    ),
]
IdFilter = Annotated[
    list[_EntryIdItem] | None,
    _id_list("id", f"Only the entries with these ids (at most {MAX_ENTRY_FILTER_IDS})"),
]


def _invalid_filter(detail: str) -> ProblemError:
    return ProblemError(400, "invalid-entry-filter", "The entry filter is not valid", detail)


def entry_view(row: EntryRow) -> EntryView:
    return EntryView(
        id=row.id,
        sealed=decode_sealed(row.sealed),
        stored_at=row.stored_at,
        refers_to=row.refers_to,
        due_on=row.due_on,
    )


def _new_entry_view(values: EntryValues, sealed: SealedEnvelope) -> EntryView:
    """The view of an entry just stored (its envelope as received: nothing to decode)."""
    return EntryView(
        id=values["id"],
        sealed=sealed,
        stored_at=values["stored_at"],
        refers_to=values["refers_to"],
        due_on=values["due_on"],
    )
