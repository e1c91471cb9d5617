"""auth's migrations: where they live and how to apply them."""

from __future__ import annotations

from pathlib import Path

from shared.migrations import upgrade_to_head

__all__ = ["MIGRATIONS_DIR", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def migrate(database_url: str) -> None:
    """Bring the database at `database_url` to the newest schema. Call it outside an event
    loop (it runs its own), e.g. from `stafett migrate` or before starting the server."""
    upgrade_to_head(database_url, MIGRATIONS_DIR)
