"""`GET /healthz`: 200 only when the database answers."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import database_is_ready

__all__ = ["Engine", "healthz"]

Engine = NamedDependency[AsyncEngine]


@get("/healthz", cache_control=None)
async def healthz(engine: Engine) -> Response[dict[str, str]]:
    if await database_is_ready(engine):
        return Response({"status": "ok"}, headers={"Cache-Control": "no-store"})
    return Response(
        {"status": "unavailable"}, status_code=503, headers={"Cache-Control": "no-store"}
    )
