"""JSON request bodies: declared as JSON, and decoded strictly into the route's `data` type.

Litestar decodes a body to Python values and then converts them loosely into the handler's type:
the string "16" passes for the number 16, 1.0 for 1. The services promise strict decoding
(docs/security.md, V4), so before Litestar reads `data` the body is decoded once more with
msgspec's strict decoder for that same type; what does not have the documented type is a 400
problem that names the field and the type expected, never the value (it may be personal data).

logg runs `check_json_body` as a route's `before_request` hook (its hot write path: a guard costs
a copy of the route handler per call); auth, whose app-level `before_request` is its rate limiter
(a route's own hook would replace it), as the guard `json_body_guard`.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, ValidationException
from litestar.handlers.base import BaseRouteHandler

__all__ = ["check_json_body", "json_body_guard"]


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """415 unless the body is declared application/json; 400 unless it decodes strictly into
    the route's `data` type (Litestar keeps the body it read, and decodes it after this)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ClientException("Send the body as application/json", status_code=415)
    try:
        _strict_decoder(request.route_handler).decode(await request.body())
    except msgspec.DecodeError as error:  # msgspec.ValidationError is one too
        raise ValidationException(
            "The body is not valid",
            extra=[{"message": str(error), "key": "body", "source": "body"}],
        ) from None


async def json_body_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
) -> None:
    """`check_json_body` as a guard (Litestar hands HTTP guards the request itself)."""
    if not isinstance(connection, Request):
        raise TypeError("json_body_guard guards HTTP routes only")
    await check_json_body(connection)


@functools.cache
def _strict_decoder(handler: BaseRouteHandler) -> msgspec.json.Decoder[Any]:
    """A strict decoder for the handler's `data` type (one per route, made on first use)."""
    field = handler.parsed_data_field
    if field is None:
        raise TypeError(f"{handler} takes no data: it needs no JSON body check")
    return msgspec.json.Decoder(field.annotation, strict=True)
