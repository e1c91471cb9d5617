"""The logg HTTP API: thin handlers that decode, call the service layer, and encode.

Every route but /healthz and /schema requires a bearer token (services.logg.authentication).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import JSONBody, Parameter
from litestar.plugins import OpenAPISchemaPlugin
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import entries, stafettlogger
from services.logg.authentication import Caller
from services.logg.database import Database
from services.logg.paging import DEFAULT_PAGE, Cursor, Limit
from shared.db import database_is_ready
from shared.problems import PROBLEM_MEDIA_TYPE, Problem
from shared.wire import (
    EntryPage,
    EntryView,
    NewEntry,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantView,
    StafettloggPage,
    StafettloggView,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

__all__ = [
    "BEARER_SCHEME",
    "Base64BytesSchema",
    "HealthStatus",
    "StafettloggController",
    "healthz",
]

BEARER_SCHEME = "BearerToken"

Session = NamedDependency[AsyncSession]
StafettloggId = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The stafettlogg's id (chosen by its creator)",
    ),
]

_PROBLEM_DESCRIPTIONS = {
    400: "The request is not valid (malformed JSON, unknown fields, a header that does not fit)",
    401: "No valid bearer token for stafett-logg",
    403: "Not allowed: not a participant, wrong role, or the log is closed",
    404: "No such stafettlogg",
    409: "Conflicts with what is stored (an id used for another request)",
    413: "The request body or ciphertext is too large",
    415: "The body must be application/json",
}


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_PROBLEM_DESCRIPTIONS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


def _replayed(data: type[Any], what: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=data,
        description=f"An identical earlier request already created this {what}",
        generate_examples=False,
    )


def _require_json(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a body must be declared as JSON (checked before the body is read)."""
    media_type = connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ClientException("Send the body as application/json", status_code=415)


def _status(created: bool) -> int:
    return 201 if created else 200


class StafettloggController(Controller):
    path = "/stafettlogger"
    tags = ["stafettlogger"]  # noqa: RUF012 - Litestar reads these class attributes
    security = [{BEARER_SCHEME: []}]  # noqa: RUF012

    @post(
        "/",
        status_code=201,
        guards=[_require_json],
        summary="Create a stafettlogg; the caller becomes its coordinator",
        responses={
            200: _replayed(StafettloggView, "stafettlogg"),
            **_problems(400, 401, 403, 409, 413, 415),
        },
    )
    async def create(
        self, caller: Caller, session: Session, data: JSONBody[NewStafettlogg]
    ) -> Response[StafettloggView]:
        view, created = await stafettlogger.create_stafettlogg(session, caller, data)
        return Response(view, status_code=_status(created))

    @get(
        "/",
        summary="The stafettlogger the caller takes part in, newest first",
        responses=_problems(400, 401),
    )
    async def list_stafettlogger(
        self, caller: Caller, session: Session, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
    ) -> StafettloggPage:
        return await stafettlogger.list_stafettlogger(session, caller, cursor=cursor, limit=limit)

    @get(
        "/{stafettlogg_id:str}",
        summary="One stafettlogg, with the key grants the caller can open",
        responses=_problems(400, 401, 403, 404),
    )
    async def read(
        self, caller: Caller, session: Session, stafettlogg_id: StafettloggId
    ) -> StafettloggView:
        return await stafettlogger.read_stafettlogg(session, caller, stafettlogg_id)

    @post(
        "/{stafettlogg_id:str}/participants",
        status_code=201,
        guards=[_require_json],
        summary="Add a participant with key grants for them (coordinator only)",
        responses={
            200: _replayed(ParticipantView, "participant"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def add_participant(
        self,
        caller: Caller,
        session: Session,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewParticipantRequest],
    ) -> Response[ParticipantView]:
        view, created = await stafettlogger.add_participant(session, caller, stafettlogg_id, data)
        return Response(view, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/entries",
        status_code=201,
        guards=[_require_json],
        summary="Add a sealed entry, signed by the caller (coordinator or writer)",
        responses={
            200: _replayed(EntryView, "entry"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def write_entry(
        self,
        caller: Caller,
        session: Session,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewEntry],
    ) -> Response[EntryView]:
        view, created = await entries.write_entry(session, caller, stafettlogg_id, data)
        return Response(view, status_code=_status(created))

    @get(
        "/{stafettlogg_id:str}/entries",
        summary="A page of entries, newest first",
        responses=_problems(400, 401, 403, 404),
    )
    async def page_entries(
        self,
        caller: Caller,
        session: Session,
        stafettlogg_id: StafettloggId,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> EntryPage:
        return await entries.page_entries(
            session, caller, stafettlogg_id, cursor=cursor, limit=limit
        )


class HealthStatus(msgspec.Struct, frozen=True):
    status: Literal["ok", "unavailable"]


@get(
    "/healthz",
    summary="200 when logg and its database answer, 503 otherwise",
    responses={
        503: ResponseSpec(
            HealthStatus, description="The database does not answer", generate_examples=False
        )
    },
    tags=["operations"],
)
async def healthz(state: State) -> Response[HealthStatus]:
    database: Database = state.database
    if await database_is_ready(database.engine):
        return Response(HealthStatus("ok"), status_code=200)
    return Response(HealthStatus("unavailable"), status_code=503)


class Base64BytesSchema(OpenAPISchemaPlugin):
    """Documents `bytes` as what msgspec sends: a standard base64 string (RFC 4648 section 4)."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is bytes

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        return Schema(type=OpenAPIType.STRING, content_encoding="base64")
