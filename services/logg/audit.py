"""The access log (innsynslogg): an append-only, hash-chained record of every read and write of a
stafettlogg, with heads signed by logg's own Ed25519 key, and the check that recomputes it all.

Chain (per log), version 1:

    encoding    = JSON ["stafett/access-record/v1", stafettlogg_id, seq, at, subject, caller_role,
                        service, roles, action, entry_id, decision, reason]
                  (at as RFC 3339 UTC with microseconds; absent values as null)
    record_hash = SHA-256(prev_hash || encoding)      prev_hash of seq 1 = 32 zero bytes

Appending takes the head (one index lookup, or the head the request's access query already
read) and inserts seq + 1 (inside a savepoint on PostgreSQL); the unique
(stafettlogg_id, seq) index makes a concurrent append of the same seq fail, and the loser reads
the new head and tries again. So the chain never forks, on SQLite or PostgreSQL, and an append
costs one insert in the same transaction as the action it records.

Signed head: Ed25519 over "stafett/access-head/v1" 0x00 || JSON [stafettlogg_id, seq, head hash
(hex), signed_at (RFC 3339)]. A signed head pins the chain: rows changed, removed or cut off
before it are found by `verify_database`.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc.jwk import KeySet, OKPKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import models
from services.logg.models import AccessHeadSignatureRow, AccessRecordRow, Base
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
    "head_signing_input",
    "record_encoding",
    "record_hash",
    "verify_database",
]

GENESIS_HASH = bytes(32)
_RECORD_LABEL = "stafett/access-record/v1"
_HEAD_LABEL = b"stafett/access-head/v1\x00"
_MAX_APPEND_ATTEMPTS = 20
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a malformed id is refused later; record none


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_encoding(row: AccessRecordRow) -> bytes:
    """The canonical bytes of one access record (everything but the hashes)."""
    return msgspec.json.encode(
        [
            _RECORD_LABEL,
            row.stafettlogg_id,
            row.seq,
            _rfc3339(row.at),
            row.subject,
            row.caller_role,
            row.service,
            row.roles,
            row.action,
            row.entry_id,
            row.decision,
            row.reason,
        ]
    )


def record_hash(prev_hash: bytes, row: AccessRecordRow) -> bytes:
    return hashlib.sha256(prev_hash + record_encoding(row)).digest()


class Unknown(enum.Enum):
    """The type of `UNKNOWN`: the chain head has not been read in this transaction."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN
_RECORDS = Base.metadata.tables[AccessRecordRow.__tablename__]
_INSERT_RECORD = _RECORDS.insert()


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
) -> AccessRecordRow:
    """Append one record to the log's chain in the caller's transaction (not committed here).

    Guarantees: the record's seq is the head's + 1 and its prev_hash the head's hash, also when
    requests append concurrently (the unique (log, seq) index decides; the loser retries on the
    new head). Stores who, what, when and the decision — never content.

    `known_head` is the head (as `models.access_head` answers) when the caller has just read it
    in this transaction (`models.access_context` does, in the query it runs anyway): the first
    attempt then needs no lookup of its own. A stale head cannot fork the chain: on PostgreSQL
    the unique index refuses the insert and the retry reads the head again; on SQLite the one
    connection serialises requests, so the head read earlier in this transaction is current.

    The record is inserted with one Core INSERT (cheaper than an ORM flush); the returned row is
    not attached to the session."""
    for attempt in range(_MAX_APPEND_ATTEMPTS):
        if attempt == 0 and known_head is not UNKNOWN:
            head = known_head
        else:
            head = await models.access_head(session, stafettlogg_id)
        seq, prev = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_HASH)
        row = AccessRecordRow(
            stafettlogg_id=stafettlogg_id,
            seq=seq,
            at=datetime.now(UTC),
            subject=claims.sub,
            caller_role=claims.role,
            service=claims.service if claims.role == "staff" else None,
            roles=",".join(sorted(roles)),
            action=action,
            entry_id=entry_id if entry_id is not None and _ENTRY_ID.match(entry_id) else None,
            decision="allowed" if allowed else "denied",
            reason=reason,
            prev_hash=prev,
            record_hash=b"",
        )
        row.record_hash = record_hash(prev, row)
        values = {column: getattr(row, column) for column in _RECORD_COLUMNS}
        if session.get_bind().dialect.name == "sqlite":
            # One connection (shared.db): requests are serialised, so no append can race this
            # one; and pysqlite's SAVEPOINT would commit early. A plain insert is exact here.
            await session.execute(_INSERT_RECORD, values)
            return row
        try:
            async with session.begin_nested():
                await session.execute(_INSERT_RECORD, values)
        except IntegrityError:
            continue  # another request took this seq; read the new head
        return row
    raise ProblemError(503, "busy", "The stafettlogg is busy; try again in a moment")


_RECORD_COLUMNS = tuple(column.key for column in _RECORDS.columns if column.key != "id")


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
        now = datetime.now(UTC)
        row = AccessHeadSignatureRow(
            stafettlogg_id=stafettlogg_id,
            seq=seq,
            head_hash=head_hash,
            signed_at=now,
            key_id=self.key_id,
            signature=self._private.sign(head_signing_input(stafettlogg_id, seq, head_hash, now)),
        )
        session.add(row)
        return row


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
