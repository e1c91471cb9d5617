"""WAL checkpoints outside the request path (SQLite).

In WAL mode SQLite appends every commit to the -wal file and, by default, the commit that takes the
WAL past 1 000 pages copies it back into the database file and waits for the disk (fsync): one
request in a few hundred pays several milliseconds, and with one connection (shared.db) every
request queued behind it pays too. That was most of logg's p99 (docs/performance.md).

`create_engine(url, background_checkpoints=True)` raises that threshold to `SAFETY_NET_PAGES`, and
a `WalCheckpointer` (a task in the service's lifespan) checkpoints every `interval` seconds from a
connection of its own, in a worker thread, in PASSIVE mode: it copies what it can without waiting
for readers or writers, and requests go on appending meanwhile. Should it stop or fall behind,
the safety net still bounds the WAL (~40 MiB) as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

__all__ = ["SAFETY_NET_PAGES", "WalCheckpointer"]

SAFETY_NET_PAGES = 10_000  # the commit-time checkpoint, should the background one not run
_log = logging.getLogger("stafett.db.checkpoints")


class WalCheckpointer:
    """Checkpoints one SQLite database's WAL every `interval` seconds (see the module)."""

    def __init__(self, path: Path, *, interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self.checkpoints = 0  # done so far

    async def run(self) -> None:
        """Until cancelled. A failed checkpoint is logged (its kind only) and tried again."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self.checkpoint)
            except sqlite3.Error as error:
                _log.warning("WAL checkpoint failed: %s", type(error).__name__)
            else:
                self.checkpoints += 1

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint (blocking), on a connection of its own opened for it (a
        fraction of a millisecond, once a second; nothing is left open when the task is
        cancelled mid-checkpoint): the WAL's frames, and how many are now in the database."""
        connection = sqlite3.connect(self._path)
        try:
            _busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            connection.close()
        return int(frames), int(copied)
