"""Alembic environment of logg: see shared.migrations."""

from services.logg.models import Base
from shared.migrations import run_migrations_online

run_migrations_online(Base.metadata)
