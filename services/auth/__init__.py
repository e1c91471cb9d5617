"""auth: the OIDC relying party, sessions, key custody and the service-token issuer."""

from pathlib import Path

__all__ = ["MIGRATIONS_DIR"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
