"""`stafett audit erasures`: list the erasures recorded in logg's database — which log (or entry),
when, by whom, why, what was destroyed, and how many access records were kept for the archive.
Read-only; for the municipality's archive service (services.logg.erasure)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import msgspec
from sqlalchemy import func, select

from services.logg.models import AccessRecordRow, ErasureRow
from services.logg.settings import Settings
from shared.db import create_engine
from shared.wire import ErasureCounts

__all__ = ["erasure_lines", "erasures_command"]


async def erasure_lines(database_url: str) -> list[str]:
    """One line per erasure, oldest first, and a last line with the count."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            kept = (
                select(func.count())
                .where(AccessRecordRow.stafettlogg_id == ErasureRow.stafettlogg_id)
                .scalar_subquery()
            )
            rows = (
                await connection.execute(
                    select(ErasureRow, kept.label("kept")).order_by(ErasureRow.erased_at)
                )
            ).all()
    finally:
        await engine.dispose()
    lines = []
    for row in rows:
        deleted = msgspec.json.decode(row.deleted, type=ErasureCounts)
        target = f"entry {row.entry_id} of " if row.entry_id else ""
        destroyed = ", ".join(
            f"{count} {name.replace('_', ' ')}"
            for name, count in msgspec.structs.asdict(deleted).items()
            if count
        )
        lines.append(
            f"{row.erased_at.isoformat(timespec='seconds')} {row.scope}: {target}stafettlogg "
            f"{row.stafettlogg_id} by {row.erased_by}; reason: {row.reason}; destroyed: "
            f"{destroyed or 'nothing'}; kept: {row.kept} access records and this record"
        )
    lines.append(f"{len(rows)} erasures")
    return lines


def erasures_command(environ: Mapping[str, str]) -> int:
    settings = Settings.from_env(environ)
    for line in asyncio.run(erasure_lines(settings.database_url)):
        print(line)
    return 0
