"""Filling logg's database directly: the 100 000-entry log in seconds rather than over HTTP.

Every row holds the same valid sealed envelope (sealed and signed by the log's coordinator for
this log and epoch) under a distinct entry id, so a page read returns real-sized ciphertext.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import insert, text

from bench.targets import ENTRY_PLAINTEXT
from services.logg.models import EntryRow
from services.logg.sealing import encode_sealed
from shared.db import create_engine
from tests.logg.helpers import Actor, seal

__all__ = ["seed_entries"]

_CHUNK = 5000


def seed_entries(
    database_url: str, author: Actor, stafettlogg_id: str, epoch_key: bytes, count: int
) -> None:
    """Insert `count` entries into an existing log (epoch 1), then refresh the planner's view."""
    asyncio.run(_seed(database_url, author, stafettlogg_id, epoch_key, count))


async def _seed(
    database_url: str, author: Actor, stafettlogg_id: str, epoch_key: bytes, count: int
) -> None:
    envelope = seal(author, stafettlogg_id, epoch_key, entry_id="seeded", plaintext=ENTRY_PLAINTEXT)
    stored = encode_sealed(envelope)
    sign_key = author.keys.public().sign_public
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        for start in range(0, count, _CHUNK):
            rows = [
                {
                    "id": f"seeded-{number:07d}",
                    "stafettlogg_id": stafettlogg_id,
                    "epoch": 1,
                    "author": author.subject,
                    "type": envelope.header.type,
                    "created_at": now,
                    "stored_at": now,
                    "sealed": stored,
                    "author_sign_key": sign_key,
                }
                for number in range(start, min(start + _CHUNK, count))
            ]
            async with engine.begin() as connection:
                await connection.execute(insert(EntryRow), rows)
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
