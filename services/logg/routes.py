"""The logg HTTP API: thin handlers that decode, call the service layer, and encode.

Every route but /healthz and /schema requires a bearer token (services.logg.authentication).
Every JSON body is checked before it is read (`shared.json_bodies.check_json_body`, as a
`before_request` hook: a guard would cost a copy of the route handler on each call).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import JSONBody, Parameter
from litestar.plugins import OpenAPISchemaPlugin
from sqlalchemy.ext.asyncio import AsyncSession

from services.logg import (
    access_records,
    closing,
    consent,
    due_measures,
    entries,
    epochs,
    erasure,
    handover,
    levels,
    stafettlogger,
)
from services.logg.access import Policy
from services.logg.audit import AccessHeadSigner
from services.logg.authentication import Caller, provide_caller
from services.logg.database import Database
from services.logg.due_measures import DEFAULT_DAYS, DueCursor, DueDays
from services.logg.entries import IdFilter, ReferringFilter, TypeFilter
from services.logg.paging import DEFAULT_PAGE, Cursor, Limit
from services.logg.settings import Settings
from services.logg.streams import Live, LiveStreams
from shared.crypto.envelope import SealedEnvelope
from shared.db import database_is_ready
from shared.json_bodies import check_json_body
from shared.keyfiles import load_or_create_signing_jwk
from shared.problems import PROBLEM_MEDIA_TYPE, Problem
from shared.wire import (
    AccessRecordPage,
    ClosingRequest,
    ConsentPage,
    ConsentView,
    DueMeasurePage,
    EntryPage,
    EntryView,
    EpochStatus,
    ErasureReport,
    ErasureRequest,
    HandoverAcceptance,
    HandoverView,
    LevelChangePage,
    LevelChangeRequest,
    LevelChangeView,
    NewConsent,
    NewEntry,
    NewEpoch,
    NewHandover,
    NewKeyGrants,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantKind,
    ParticipantPage,
    ParticipantView,
    SignedAccessHead,
    StafettloggPage,
    StafettloggView,
    WithdrawalRequest,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

__all__ = [
    "BEARER_SCHEME",
    "MAX_SCAN_BODY",
    "Base64BytesSchema",
    "DueMeasuresController",
    "HealthStatus",
    "StafettloggController",
    "app_state",
    "audit_signer",
    "domain_dependencies",
    "healthz",
]

BEARER_SCHEME = "BearerToken"
MAX_SCAN_BODY = 8 * 1024 * 1024  # a 5 MiB scan, base64 inside JSON

Session = NamedDependency[AsyncSession]
Rules = NamedDependency[Policy]
Signer = NamedDependency[AccessHeadSigner]
Id = Annotated[
    str,
    Parameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="An id"),
]
KindParameter = Annotated[
    ParticipantKind, Parameter(description="person (a subject) or service (a service unit)")
]
ScanPurpose = Annotated[
    Literal["consent", "withdrawal"],
    Parameter(description="The scan of the consent form, or of the withdrawal"),
]


def audit_signer(settings: Settings) -> AccessHeadSigner:
    """logg's access-head signer. Loads the audit key file now (creating it in local mode; in
    production a missing file is a SettingsError)."""
    return AccessHeadSigner(
        load_or_create_signing_jwk(Path(settings.audit_key_file), mode=settings.mode)
    )


def domain_dependencies(policy: Policy, signer: AccessHeadSigner) -> dict[str, Provide]:
    """The `policy` (consent rule) and `signer` (audit key) dependencies."""

    def provide_policy() -> Policy:
        return policy

    def provide_signer() -> AccessHeadSigner:
        return signer

    return {
        "policy": Provide(provide_policy, sync_to_thread=False),
        "signer": Provide(provide_signer, sync_to_thread=False),
    }


# The two hottest routes (write an entry, read a page of entries) take the request and one
# dependency, the session, and read the caller, the consent rule and the live streams from the
# request: Litestar resolves several dependencies of one handler in an anyio task group, which
# cost ~5 % of a write's CPU (docs/performance.md). The other routes use the dependencies.
LoggRequest = Request[Any, Any, State]


def policy_of(request: LoggRequest) -> Policy:
    """The consent rule (`app_state`'s `policy`, the same object as the `policy` dependency)."""
    policy: Policy = request.app.state.policy
    return policy


def live_of(request: LoggRequest) -> LiveStreams:
    """The live streams (`app_state`'s `live`, the same object as the `live` dependency)."""
    live: LiveStreams = request.app.state.live
    return live


def app_state(policy: Policy, live: LiveStreams) -> State:
    """What `policy_of` and `live_of` read, set when the app is made."""
    return State({"policy": policy, "live": live})


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
    403: "Not allowed: not a participant, no valid consent, wrong role, or the log is closed",
    404: "No such stafettlogg (or consent, or scan)",
    409: "Conflicts with what is stored (an id used for another request)",
    413: "The request body or ciphertext is too large",
    415: "The body must be application/json",
    503: "Not done yet, or not completely: send the same request again in a moment",
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


def _status(created: bool) -> int:
    return 201 if created else 200


class StafettloggController(Controller):
    path = "/stafettlogger"
    tags = ["stafettlogger"]  # noqa: RUF012 - Litestar reads these class attributes
    security = [{BEARER_SCHEME: []}]  # noqa: RUF012

    @post(
        "/",
        status_code=201,
        before_request=check_json_body,
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
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> StafettloggPage:
        return await stafettlogger.list_stafettlogger(
            session, caller, cursor=cursor, limit=limit, policy=policy
        )

    @get(
        "/{stafettlogg_id:str}",
        summary="One stafettlogg, with the key grants the caller can open",
        responses=_problems(400, 401, 403, 404),
    )
    async def read(
        self, caller: Caller, session: Session, policy: Rules, stafettlogg_id: StafettloggId
    ) -> StafettloggView:
        return await stafettlogger.read_stafettlogg(session, caller, stafettlogg_id, policy=policy)

    @post(
        "/{stafettlogg_id:str}/participants",
        status_code=201,
        before_request=check_json_body,
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
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewParticipantRequest],
    ) -> Response[ParticipantView]:
        view, created = await stafettlogger.add_participant(
            session, caller, stafettlogg_id, data, policy=policy
        )
        return Response(view, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/entries",
        status_code=201,
        before_request=check_json_body,
        summary="Add a sealed entry, signed by the caller (coordinator or writer)",
        responses={
            200: _replayed(EntryView, "entry"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def write_entry(
        self,
        request: LoggRequest,
        session: Session,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewEntry],
    ) -> Response[EntryView]:
        view, created = await entries.write_entry(
            session, provide_caller(request), stafettlogg_id, data, policy=policy_of(request)
        )
        if created:  # committed: tell the open streams (fire and forget)
            live_of(request).bus.publish_entry(stafettlogg_id, view.id)
        return Response(view, status_code=_status(created))

    @get(
        "/{stafettlogg_id:str}/entries",
        summary="A page of entries, newest first; optionally only some types, the entries that "
        "refer to given entries, or given entries (each filter narrows the page)",
        responses=_problems(400, 401, 403, 404),
    )
    async def page_entries(
        self,
        request: LoggRequest,
        session: Session,
        stafettlogg_id: StafettloggId,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
        entry_types: TypeFilter = None,
        refers_to: ReferringFilter = None,
        entry_ids: IdFilter = None,
    ) -> EntryPage:
        return await entries.page_entries(
            session,
            provide_caller(request),
            stafettlogg_id,
            cursor=cursor,
            limit=limit,
            types=entry_types or (),
            refers_to=refers_to or (),
            ids=entry_ids or (),
            policy=policy_of(request),
        )

    @get(
        "/{stafettlogg_id:str}/participants",
        summary="A page of the participants, in the order they were added",
        responses=_problems(400, 401, 403, 404),
    )
    async def page_participants(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> ParticipantPage:
        return await stafettlogger.page_participants(
            session, caller, stafettlogg_id, cursor=cursor, limit=limit, policy=policy
        )

    @delete(
        "/{stafettlogg_id:str}/participants/{kind:str}/{principal_id:str}",
        status_code=204,
        summary="Remove a participant (coordinator only; a retry is harmless)",
        responses=_problems(400, 401, 403, 404, 409),
    )
    async def remove_participant(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        kind: KindParameter,
        principal_id: Id,
        live: Live,
    ) -> None:
        await stafettlogger.remove_participant(
            session, caller, stafettlogg_id, kind, principal_id, policy=policy
        )
        live.bus.publish_access_change(stafettlogg_id)  # their open streams end now

    @get(
        "/{stafettlogg_id:str}/epochs",
        summary="The key epoch: the current one, whether the next is due (a participant left), "
        "and whom its key must be wrapped for",
        responses=_problems(400, 401, 403, 404),
    )
    async def epoch_status(
        self, caller: Caller, session: Session, policy: Rules, stafettlogg_id: StafettloggId
    ) -> EpochStatus:
        return await epochs.epoch_status(session, caller, stafettlogg_id, policy=policy)

    @post(
        "/{stafettlogg_id:str}/epochs",
        status_code=201,
        before_request=check_json_body,
        summary="Start the next key epoch, wrapped for exactly the participants who remain "
        "(coordinator, writers, guardians); nothing written before is re-encrypted",
        responses={
            200: _replayed(EpochStatus, "epoch"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def rotate_epoch(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewEpoch],
    ) -> Response[EpochStatus]:
        status, created = await epochs.rotate_epoch(
            session, caller, stafettlogg_id, data, policy=policy
        )
        return Response(status, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/key-grants",
        status_code=201,
        before_request=check_json_body,
        summary="Wrap the log's keys for a participant who holds none (a service whose consent "
        "was given again): the current epoch, earlier ones only if consent allows history",
        responses={
            200: _replayed(EpochStatus, "key grant"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def grant_keys(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewKeyGrants],
    ) -> Response[EpochStatus]:
        status, created = await epochs.grant_keys(
            session, caller, stafettlogg_id, data, policy=policy
        )
        return Response(status, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/erasure",
        status_code=201,
        before_request=check_json_body,
        summary="Erase a closed log by crypto-shredding: key grants first, then rows "
        "(a municipal administrator, with a reason); returns what was kept and why",
        responses={
            200: _replayed(ErasureReport, "erasure"),
            **_problems(400, 401, 403, 404, 409, 413, 415, 503),
        },
    )
    async def erase_stafettlogg(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[ErasureRequest],
    ) -> Response[ErasureReport]:
        report, created = await erasure.erase_stafettlogg(
            session, caller, stafettlogg_id, data, policy=policy
        )
        return Response(report, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/entries/{entry_id:str}/erasure",
        status_code=201,
        before_request=check_json_body,
        summary="Erase one entry by crypto-shredding its sealed envelope (a municipal "
        "administrator, with a reason); returns what was kept and why",
        responses={
            200: _replayed(ErasureReport, "erasure"),
            **_problems(400, 401, 403, 404, 409, 413, 415, 503),
        },
    )
    async def erase_entry(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        entry_id: Id,
        data: JSONBody[ErasureRequest],
    ) -> Response[ErasureReport]:
        report, created = await erasure.erase_entry(
            session, caller, stafettlogg_id, entry_id, data, policy=policy
        )
        return Response(report, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/consents",
        status_code=201,
        before_request=check_json_body,
        request_max_body_size=MAX_SCAN_BODY,
        summary="Record a consent or refusal for a service unit (portal: guardian or youth; "
        "paper: the coordinator, with the sealed scan)",
        responses={
            200: _replayed(ConsentView, "consent"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def record_consent(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewConsent],
    ) -> Response[ConsentView]:
        view, created = await consent.record_consent(
            session, caller, stafettlogg_id, data, policy=policy
        )
        return Response(view, status_code=_status(created))

    @get(
        "/{stafettlogg_id:str}/consents",
        summary="A page of the consent records, newest first",
        responses=_problems(400, 401, 403, 404),
    )
    async def page_consents(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> ConsentPage:
        return await consent.page_consents(
            session, caller, stafettlogg_id, cursor=cursor, limit=limit, policy=policy
        )

    @post(
        "/{stafettlogg_id:str}/consents/{consent_id:str}/withdraw",
        status_code=200,
        before_request=check_json_body,
        request_max_body_size=MAX_SCAN_BODY,
        summary="Withdraw a consent (portal: guardian or youth; paper: the coordinator)",
        responses=_problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def withdraw_consent(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        consent_id: Id,
        data: JSONBody[WithdrawalRequest],
        live: Live,
    ) -> ConsentView:
        view = await consent.withdraw_consent(
            session, caller, stafettlogg_id, consent_id, data, policy=policy
        )
        live.bus.publish_access_change(stafettlogg_id)  # the service's open streams end now
        return view

    @get(
        "/{stafettlogg_id:str}/consents/{consent_id:str}/scan",
        summary="The sealed scan of a paper consent or withdrawal (guardians, coordinator)",
        responses=_problems(400, 401, 403, 404),
    )
    async def read_consent_scan(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        consent_id: Id,
        purpose: ScanPurpose = "consent",
    ) -> SealedEnvelope:
        return await consent.read_consent_scan(
            session, caller, stafettlogg_id, consent_id, purpose, policy=policy
        )

    @post(
        "/{stafettlogg_id:str}/level",
        status_code=201,
        before_request=check_json_body,
        summary="Change the BTI level, with a sealed reason (coordinator only)",
        responses={
            200: _replayed(LevelChangeView, "level change"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def change_level(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[LevelChangeRequest],
        live: Live,
    ) -> Response[LevelChangeView]:
        view, created = await levels.change_level(
            session, caller, stafettlogg_id, data, policy=policy
        )
        if created:  # the reason is an entry of the log
            live.bus.publish_entry(stafettlogg_id, view.id)
        return Response(view, status_code=_status(created))

    @get(
        "/{stafettlogg_id:str}/level-changes",
        summary="A page of the level history, newest first",
        responses=_problems(400, 401, 403, 404),
    )
    async def page_level_changes(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> LevelChangePage:
        return await levels.page_level_changes(
            session, caller, stafettlogg_id, cursor=cursor, limit=limit, policy=policy
        )

    @post(
        "/{stafettlogg_id:str}/handover",
        status_code=201,
        before_request=check_json_body,
        summary="Propose a new coordinator (coordinator only)",
        responses={
            200: _replayed(HandoverView, "handover"),
            **_problems(400, 401, 403, 404, 409, 413, 415),
        },
    )
    async def propose_handover(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[NewHandover],
    ) -> Response[HandoverView]:
        view, created = await handover.propose_handover(
            session, caller, stafettlogg_id, data, policy=policy
        )
        return Response(view, status_code=_status(created))

    @post(
        "/{stafettlogg_id:str}/handover/accept",
        status_code=200,
        before_request=check_json_body,
        summary="Accept the baton (the staff person it is proposed to)",
        responses=_problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def accept_handover(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[HandoverAcceptance],
    ) -> HandoverView:
        return await handover.accept_handover(session, caller, stafettlogg_id, data, policy=policy)

    @post(
        "/{stafettlogg_id:str}/close",
        status_code=200,
        before_request=check_json_body,
        summary="Close the log with a closing note (coordinator or guardian); it becomes read-only",
        responses=_problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def close(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        data: JSONBody[ClosingRequest],
    ) -> StafettloggView:
        return await closing.close_stafettlogg(session, caller, stafettlogg_id, data, policy=policy)

    @get(
        "/{stafettlogg_id:str}/access-records",
        summary="A page of the access log (innsynslogg), newest first (guardians, coordinator)",
        responses=_problems(400, 401, 403, 404),
    )
    async def page_access_records(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        stafettlogg_id: StafettloggId,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> AccessRecordPage:
        return await access_records.page_access_records(
            session, caller, stafettlogg_id, cursor=cursor, limit=limit, policy=policy
        )

    @get(
        "/{stafettlogg_id:str}/access-records/head",
        summary="Sign, store and return the head of the access log's hash chain",
        responses=_problems(400, 401, 403, 404),
    )
    async def access_head(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        signer: Signer,
        stafettlogg_id: StafettloggId,
    ) -> SignedAccessHead:
        return await access_records.sign_access_head(
            session, caller, stafettlogg_id, signer, policy=policy
        )


class DueMeasuresController(Controller):
    path = "/tiltak"
    tags = ["stafettlogger"]  # noqa: RUF012 - Litestar reads these class attributes
    security = [{BEARER_SCHEME: []}]  # noqa: RUF012

    @get(
        "/forfall",
        summary="Measures across the caller's logs whose evaluation date has passed or is near "
        "and that have no evaluation yet, earliest first, with their logs",
        responses=_problems(400, 401),
    )
    async def due_measures(
        self,
        caller: Caller,
        session: Session,
        policy: Rules,
        limit: Limit = DEFAULT_PAGE,
        cursor: DueCursor = None,
        days: DueDays = DEFAULT_DAYS,
    ) -> DueMeasurePage:
        return await due_measures.page_due_measures(
            session, caller, cursor=cursor, limit=limit, days=days, policy=policy
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
