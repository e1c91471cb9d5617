"""The access log (innsynslogg): an append-only, hash-chained record of every read and write of a
stafettlogg, with heads signed by logg's own Ed25519 key, and the check that recomputes it all.

Chain (per log), version 1:

    encoding    = JSON ["stafett/access-record/v1", stafettlogg_id, seq, at, subject, caller_role,
                        service, roles, action, entry_id, decision, reason]
                  (at as RFC 3339 UTC with microseconds; absent values as null)
    record_hash = SHA-256(prev_hash || encoding)      prev_hash of seq 1 = 32 zero bytes

Appending takes the head (one index lookup, or the head the request's access query already
read) and inserts seq + 1 (ON CONFLICT DO NOTHING on PostgreSQL); the unique
(stafettlogg_id, seq) index makes a concurrent append of the same seq fail, and the loser reads
the new head and tries again. So the chain never forks, on SQLite or PostgreSQL, and an append
costs one insert in the same transaction as the action it records.

Signed head: Ed25519 over "stafett/access-head/v1" 0x00 || JSON [stafettlogg_id, seq, head hash
(hex), signed_at (RFC 3339)]. A signed head pins the chain: rows changed, removed or cut off
before it are found by `verify_database`. logg publishes them on a schedule
(`publish_signed_heads`, run every STAFETT_LOGG_HEAD_INTERVAL seconds from the app's lifespan)
for every log whose chain grew since its newest signed head, and on request (`sign_head`).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc.jwk import KeySet, OKPKey
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.logg import models
from services.logg.models import AccessHeadSignatureRow, AccessRecordRow, Base, StafettloggRow
from shared.db import create_engine
from shared.problems import ProblemError
from shared.tokens import ServiceClaims

__all__ = [
    "GENESIS_HASH",
    "UNKNOWN",
    "AccessHeadSigner",
    "ChainBreak",
    "Unknown",
    "VerifyReport",
    "append_access_record",
    "append_access_records",
    "head_signing_input",
    "publish_heads_periodically",
    "publish_signed_heads",
    "record_encoding",
    "record_hash",
    "verify_database",
]

GENESIS_HASH = bytes(32)
_RECORD_LABEL = "stafett/access-record/v1"
_HEAD_LABEL = b"stafett/access-head/v1\x00"
_MAX_APPEND_ATTEMPTS = 20
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a malformed id is refused later; record none
_log = logging.getLogger("stafett.logg.audit")


def _rfc3339(moment: datetime) -> str:
    """ "YYYY-MM-DDTHH:MM:SS.ffffffZ" (what strftime("%Y-%m-%dT%H:%M:%S.%fZ") writes, at a
    third of its cost: it is hashed into every access record)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds") + "Z"


_HASHED = (
    "stafettlogg_id",
    "seq",
    "at",
    "subject",
    "caller_role",
    "service",
    "roles",
    "action",
    "entry_id",
    "decision",
    "reason",
)


def _encoding(values: Mapping[str, Any]) -> bytes:
    return msgspec.json.encode(
        [
            _RECORD_LABEL,
            *(_rfc3339(values[name]) if name == "at" else values[name] for name in _HASHED),
        ]
    )


def record_encoding(row: AccessRecordRow) -> bytes:
    """The canonical bytes of one access record (everything but the hashes)."""
    return _encoding({name: getattr(row, name) for name in _HASHED})


def record_hash(prev_hash: bytes, row: AccessRecordRow) -> bytes:
    return hashlib.sha256(prev_hash + record_encoding(row)).digest()


class Unknown(enum.Enum):
    """The type of `UNKNOWN`: the chain head has not been read in this transaction."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN
_RECORDS = Base.metadata.tables[AccessRecordRow.__tablename__]
_INSERT_RECORD = _RECORDS.insert()
_INSERT_RECORD_UNLESS_TAKEN = (
    postgresql.insert(_RECORDS)
    .on_conflict_do_nothing(index_elements=["stafettlogg_id", "seq"])
    .returning(_RECORDS.c.id)
)


async def append_access_record(
    session: AsyncSession,
    *,
    stafettlogg_id: str,
    claims: ServiceClaims,
    roles: frozenset[str],
    action: str,
    entry_id: str | None,
    allowed: bool,
    reason: str,
    known_head: tuple[int, bytes] | Unknown | None = UNKNOWN,
) -> None:
    """Append one record to the log's chain in the caller's transaction (not committed here).

    Guarantees: the record's seq is the head's + 1 and its prev_hash the head's hash, also when
    requests append concurrently (the unique (log, seq) index decides; the loser retries on the
    new head). Stores who, what, when and the decision — never content.

    `known_head` is the head (as `models.access_head` answers) when the caller has just read it
    in this transaction (`models.access_context` does, in the query it runs anyway): the first
    attempt then needs no lookup of its own. A stale head cannot fork the chain: on PostgreSQL
    the unique index refuses the insert and the retry reads the head again; on SQLite the one
    connection serialises requests, so the head read earlier in this transaction is current.

    The record is inserted with one Core INSERT (no ORM object: cheaper than a flush)."""
    for attempt in range(_MAX_APPEND_ATTEMPTS):
        if attempt == 0 and known_head is not UNKNOWN:
            head = known_head
        else:
            head = await models.access_head(session, stafettlogg_id)
        values = _new_record(
            stafettlogg_id,
            head,
            datetime.now(UTC),
            claims=claims,
            roles=roles,
            action=action,
            entry_id=entry_id,
            allowed=allowed,
            reason=reason,
        )
        # Core on the session's connection (same transaction): no ORM execution layer.
        connection = await session.connection()
        if connection.dialect.name == "sqlite":
            # One connection (shared.db): requests are serialised, so no append can race this
            # one; and pysqlite's SAVEPOINT would commit early. A plain insert is exact here.
            await connection.execute(_INSERT_RECORD, values)
            return
        # PostgreSQL: the unique (log, seq) index arbitrates. ON CONFLICT DO NOTHING waits for a
        # concurrent insert of the same seq and then inserts nothing (no row returned): read
        # the new head and try again. No savepoint, and the transaction stays usable.
        inserted = await connection.scalar(_INSERT_RECORD_UNLESS_TAKEN, values)
        if inserted is None:
            continue  # another request took this seq; read the new head
        return
    raise ProblemError(503, "busy", "The stafettlogg is busy; try again in a moment")


def _new_record(
    stafettlogg_id: str,
    head: tuple[int, bytes] | None,
    at: datetime,
    *,
    claims: ServiceClaims,
    roles: frozenset[str],
    action: str,
    entry_id: str | None,
    allowed: bool,
    reason: str,
) -> dict[str, Any]:
    """The INSERT values of the record that follows `head` (None: the first of the chain),
    its hash computed."""
    seq, prev = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_HASH)
    values: dict[str, Any] = {
        "stafettlogg_id": stafettlogg_id,
        "seq": seq,
        "at": at,
        "subject": claims.sub,
        "caller_role": claims.role,
        "service": claims.service if claims.role == "staff" else None,
        "roles": ",".join(sorted(roles)),
        "action": action,
        "entry_id": entry_id if entry_id is not None and _ENTRY_ID.match(entry_id) else None,
        "decision": "allowed" if allowed else "denied",
        "reason": reason,
        "prev_hash": prev,
    }
    values["record_hash"] = hashlib.sha256(prev + _encoding(values)).digest()
    return values


async def append_access_records(
    session: AsyncSession,
    *,
    logs: Sequence[tuple[str, frozenset[str]]],
    claims: ServiceClaims,
    action: str,
    reason: str,
) -> None:
    """Append one allowed record to each of `logs` ((stafettlogg_id, the caller's roles in it),
    distinct ids) in the caller's transaction: one statement reads every head
    (`models.access_heads`, one index lookup per log) and one INSERT (executemany) adds the
    records, so the cost grows with the page, not with the logs' histories. Same guarantees as
    `append_access_record`: on PostgreSQL a concurrent append makes the whole batch retry on
    the new heads (in a savepoint)."""
    if not logs:
        return
    ids = [stafettlogg_id for stafettlogg_id, _ in logs]
    connection = await session.connection()
    for _ in range(_MAX_APPEND_ATTEMPTS):
        heads = await models.access_heads(session, ids)
        at = datetime.now(UTC)
        values = []
        for stafettlogg_id, roles in logs:
            values.append(
                _new_record(
                    stafettlogg_id,
                    heads.get(stafettlogg_id),
                    at,
                    claims=claims,
                    roles=roles,
                    action=action,
                    entry_id=None,
                    allowed=True,
                    reason=reason,
                )
            )
        if connection.dialect.name == "sqlite":  # serialised: see append_access_record
            await connection.execute(_INSERT_RECORD, values)
            return
        try:
            async with connection.begin_nested():  # a savepoint: a taken seq undoes the batch
                await connection.execute(_INSERT_RECORD, values)
        except IntegrityError:
            continue
        return
    raise ProblemError(503, "busy", "The stafettlogg is busy; try again in a moment")


def head_signing_input(stafettlogg_id: str, seq: int, head_hash: bytes, at: datetime) -> bytes:
    return _HEAD_LABEL + msgspec.json.encode([stafettlogg_id, seq, head_hash.hex(), _rfc3339(at)])


class AccessHeadSigner:
    """logg's audit signing key (an Ed25519 JWK from STAFETT_LOGG_AUDIT_KEY_FILE)."""

    def __init__(self, key: OKPKey) -> None:
        private = key.private_key
        if not isinstance(private, ed25519.Ed25519PrivateKey):
            raise ValueError("the audit key must be a private Ed25519 key")
        self._private = private
        self.key_id = key.kid or "logg-audit"

    async def sign_head(self, session: AsyncSession, stafettlogg_id: str) -> AccessHeadSignatureRow:
        """Sign and store the current head of the log's chain (not committed here)."""
        head = await models.access_head(session, stafettlogg_id)
        seq, head_hash = head if head is not None else (0, GENESIS_HASH)
        row = self.signed(stafettlogg_id, seq, head_hash, datetime.now(UTC))
        session.add(row)
        return row

    def signed(
        self, stafettlogg_id: str, seq: int, head_hash: bytes, at: datetime
    ) -> AccessHeadSignatureRow:
        """The signed head (seq, head_hash) of a log's chain at `at`, not yet stored."""
        return AccessHeadSignatureRow(
            stafettlogg_id=stafettlogg_id,
            seq=seq,
            head_hash=head_hash,
            signed_at=at,
            key_id=self.key_id,
            signature=self._private.sign(head_signing_input(stafettlogg_id, seq, head_hash, at)),
        )


_SIGNATURES = Base.metadata.tables[AccessHeadSignatureRow.__tablename__]
_SIGNATURE_COLUMNS = tuple(column.key for column in _SIGNATURES.columns if column.key != "id")
_PUBLISH_BATCH = 500
# One publisher at a time across logg instances on one PostgreSQL (pg_try_advisory_xact_lock).
_PUBLISH_LOCK = 0x5374_6166_4865_6164  # "StafHead"


def _unpublished_heads(after_seq: int, limit: int) -> Any:
    """Logs (by their seq, after `after_seq`) whose chain head is newer than their newest signed
    head: (log seq, log id, head seq, head hash). Each head is one index lookup per log."""
    newest_record = (
        select(AccessRecordRow.seq)
        .where(AccessRecordRow.stafettlogg_id == StafettloggRow.id)
        .order_by(AccessRecordRow.seq.desc())
        .limit(1)
    )
    head_seq = newest_record.scalar_subquery()
    newest_signed = (
        select(AccessHeadSignatureRow.seq)
        .where(AccessHeadSignatureRow.stafettlogg_id == StafettloggRow.id)
        .order_by(AccessHeadSignatureRow.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            StafettloggRow.seq,
            StafettloggRow.id,
            head_seq,
            newest_record.with_only_columns(AccessRecordRow.record_hash).scalar_subquery(),
        )
        .where(StafettloggRow.seq > after_seq, head_seq > func.coalesce(newest_signed, 0))
        .order_by(StafettloggRow.seq)
        .limit(limit)
    )


async def publish_signed_heads(
    sessions: async_sessionmaker[AsyncSession],
    signer: AccessHeadSigner,
    *,
    batch: int = _PUBLISH_BATCH,
) -> int:
    """Sign and store the head of every log whose access-record chain grew since its newest
    signed head; return how many heads were published. Each batch of logs is one read, one
    INSERT and one commit. On PostgreSQL only one logg instance publishes at a time (an
    advisory lock; the others skip the round). What a head pins is checked by
    `verify_database` (`stafett audit verify`)."""
    published, after_seq = 0, 0
    while True:
        async with sessions() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                locked = await connection.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _PUBLISH_LOCK}
                )
                if not locked:
                    return published
            rows = (await connection.execute(_unpublished_heads(after_seq, batch))).all()
            if not rows:
                return published
            at = datetime.now(UTC)
            values = []
            for _, stafettlogg_id, seq, head_hash in rows:
                head = signer.signed(stafettlogg_id, int(seq), bytes(head_hash), at)
                values.append({column: getattr(head, column) for column in _SIGNATURE_COLUMNS})
            await connection.execute(_SIGNATURES.insert(), values)
            await session.commit()
        published += len(rows)
        after_seq = rows[-1][0]
        if len(rows) < batch:
            return published


async def publish_heads_periodically(
    sessions: async_sessionmaker[AsyncSession], signer: AccessHeadSigner, interval: float
) -> None:
    """Every `interval` seconds, `publish_signed_heads`; runs until cancelled. A failed round
    (the database away) is logged, without content, and tried again next time."""
    while True:
        await asyncio.sleep(interval)
        try:
            count = await publish_signed_heads(sessions, signer)
        except (SQLAlchemyError, OSError) as error:
            _log.warning("publishing signed heads failed: %s", type(error).__name__)
        else:
            if count:
                _log.info("published %d signed access-log heads", count)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    stafettlogg_id: str
    seq: int
    problem: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    logs: int
    records: int
    signed_heads: int
    broken: ChainBreak | None


async def verify_database(database_url: str, public_keys: KeySet) -> VerifyReport:
    """Recompute every log's chain and check every stored signed head against `public_keys`.

    Guarantees: returns the first break found per log order (a record whose seq is not the next
    one, whose prev_hash is not the previous record's hash, or whose hash does not match its
    content; a signed head that does not match the chain at its seq or whose signature fails).
    Cannot see records removed after the newest signed head of a log."""
    engine = create_engine(database_url)
    logs = records = heads = 0
    try:
        async with engine.connect() as connection:
            log_ids = (
                await connection.execute(
                    select(AccessRecordRow.stafettlogg_id)
                    .distinct()
                    .order_by(AccessRecordRow.stafettlogg_id)
                )
            ).scalars()
            for stafettlogg_id in list(log_ids):
                logs += 1
                hashes: dict[int, bytes] = {}
                expected_seq, prev = 1, GENESIS_HASH
                result = await connection.stream(
                    select(AccessRecordRow.__table__)
                    .where(AccessRecordRow.stafettlogg_id == stafettlogg_id)
                    .order_by(AccessRecordRow.seq)
                )
                async for raw in result:
                    row = AccessRecordRow(**dict(raw._mapping))
                    records += 1
                    problem = _check_record(row, expected_seq, prev)
                    if problem is not None:
                        await result.close()
                        return VerifyReport(
                            logs, records, heads, ChainBreak(stafettlogg_id, row.seq, problem)
                        )
                    prev = bytes(row.record_hash)
                    hashes[row.seq] = prev
                    expected_seq += 1
                signed = (
                    await connection.execute(
                        select(AccessHeadSignatureRow.__table__)
                        .where(AccessHeadSignatureRow.stafettlogg_id == stafettlogg_id)
                        .order_by(AccessHeadSignatureRow.seq)
                    )
                ).all()
                for raw in signed:
                    head = AccessHeadSignatureRow(**dict(raw._mapping))
                    heads += 1
                    problem = _check_head(head, hashes, public_keys)
                    if problem is not None:
                        return VerifyReport(
                            logs, records, heads, ChainBreak(stafettlogg_id, head.seq, problem)
                        )
    finally:
        await engine.dispose()
    return VerifyReport(logs, records, heads, None)


def _check_record(row: AccessRecordRow, expected_seq: int, prev: bytes) -> str | None:
    if row.seq != expected_seq:
        return f"expected record {expected_seq}, found {row.seq} (a record is missing)"
    if bytes(row.prev_hash) != prev:
        return "prev_hash is not the hash of the record before"
    if record_hash(prev, row) != bytes(row.record_hash):
        return "the record's content does not match its hash"
    return None


def _check_head(
    head: AccessHeadSignatureRow, hashes: dict[int, bytes], public_keys: KeySet
) -> str | None:
    expected = GENESIS_HASH if head.seq == 0 else hashes.get(head.seq)
    if expected is None:
        return "a signed head names a record that is not there (records were removed)"
    if bytes(head.head_hash) != expected:
        return "a signed head does not match the chain"
    public = _public_key(public_keys, head.key_id)
    if public is None:
        return f"no public key {head.key_id!r} to check the signed head"
    message = head_signing_input(
        head.stafettlogg_id, head.seq, bytes(head.head_hash), head.signed_at
    )
    try:
        public.verify(bytes(head.signature), message)
    except InvalidSignature:
        return "the signed head's signature does not verify"
    return None


def _public_key(public_keys: KeySet, key_id: str) -> ed25519.Ed25519PublicKey | None:
    keys: Sequence[object] = public_keys.keys
    for key in keys:
        if isinstance(key, OKPKey) and key.kid == key_id:
            public = key.public_key
            if isinstance(public, ed25519.Ed25519PublicKey):
                return public
    return None
