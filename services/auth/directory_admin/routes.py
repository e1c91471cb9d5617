"""The administrators' directory API: bearer token of audience stafett-auth with `admin=true`.

Routes stay thin: check the caller, decode, call the service, encode. Errors are problem+json.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, Parameter

from services.auth.directory_admin.csv_import import (
    MAX_CSV_BYTES,
    CsvRejectedError,
    parse_staff_csv,
)
from services.auth.directory_admin.schemas import (
    SERVICE_ID_PATTERN,
    SUBJECT_PATTERN,
    AdminServiceUnit,
    AuditRecord,
    ImportResult,
    NewServiceUnit,
    NewStaffMember,
    ServiceUnitRename,
    StaffMember,
    StaffUpdate,
)
from services.auth.directory_admin.service import Administrator, DirectoryAdmin
from services.auth.tokens import Caller
from shared.json_bodies import json_body_guard
from shared.problems import Problem, ProblemError, problem_type

__all__ = ["DirectoryAdminController", "require_administrator"]

_CSV_TYPES = frozenset({"text/csv", "application/csv"})
ServiceIdPath = Annotated[str, Parameter(pattern=SERVICE_ID_PATTERN, max_length=64)]
SubjectPath = Annotated[str, Parameter(pattern=SUBJECT_PATTERN, max_length=32)]
AdminCaller = NamedDependency[Administrator]


async def require_administrator(caller: Caller, directory_admin: DirectoryAdmin) -> Administrator:
    """The caller, if both their token and the directory say they are an active administrator;
    else 403 (problem+json). A missing or invalid token is 401 before this runs."""
    return await directory_admin.administrator(caller)


def _rejected_file(error: CsvRejectedError) -> Response[bytes]:
    problem = Problem(
        type=problem_type("invalid-staff-file"),
        title="The staff file was refused; nothing was imported",
        status=400,
        detail=f"{len(error.errors)} line(s) must be corrected",
        errors=[msgspec.to_builtins(item) for item in error.errors],
    )
    return Response(
        content=msgspec.json.encode(problem),
        status_code=400,
        media_type="application/problem+json",
    )


class DirectoryAdminController(Controller):
    """Service units and staff, for municipal administrators."""

    path = "/admin"
    dependencies = {"administrator": Provide(require_administrator)}  # noqa: RUF012 - litestar's API

    @get("/services")
    async def list_services(
        self, directory_admin: DirectoryAdmin, administrator: AdminCaller
    ) -> list[AdminServiceUnit]:
        return await directory_admin.service_units()

    @post("/services", status_code=201, guards=[json_body_guard])
    async def add_service(
        self,
        data: JSONBody[NewServiceUnit],
        directory_admin: DirectoryAdmin,
        administrator: AdminCaller,
    ) -> AdminServiceUnit:
        return await directory_admin.add_service_unit(administrator, data)

    @patch("/services/{service_id:str}", guards=[json_body_guard])
    async def rename_service(
        self,
        service_id: ServiceIdPath,
        data: JSONBody[ServiceUnitRename],
        directory_admin: DirectoryAdmin,
        administrator: AdminCaller,
    ) -> AdminServiceUnit:
        return await directory_admin.rename_service_unit(administrator, service_id, data.name)

    @post("/services/{service_id:str}/deactivate", status_code=200)
    async def deactivate_service(
        self, service_id: ServiceIdPath, directory_admin: DirectoryAdmin, administrator: AdminCaller
    ) -> AdminServiceUnit:
        return await directory_admin.deactivate_service_unit(administrator, service_id)

    @get("/staff")
    async def list_staff(
        self, directory_admin: DirectoryAdmin, administrator: AdminCaller
    ) -> list[StaffMember]:
        return await directory_admin.staff()

    @post("/staff", status_code=201, guards=[json_body_guard])
    async def add_staff(
        self,
        data: JSONBody[NewStaffMember],
        directory_admin: DirectoryAdmin,
        administrator: AdminCaller,
    ) -> StaffMember:
        return await directory_admin.add_staff_member(administrator, data)

    @patch("/staff/{subject:str}", guards=[json_body_guard])
    async def update_staff(
        self,
        subject: SubjectPath,
        data: JSONBody[StaffUpdate],
        directory_admin: DirectoryAdmin,
        administrator: AdminCaller,
    ) -> StaffMember:
        return await directory_admin.update_staff_member(administrator, subject, data)

    @post("/staff/{subject:str}/deactivate", status_code=200)
    async def deactivate_staff(
        self, subject: SubjectPath, directory_admin: DirectoryAdmin, administrator: AdminCaller
    ) -> StaffMember:
        return await directory_admin.deactivate_staff_member(administrator, subject)

    @post("/staff/import", status_code=200, request_max_body_size=MAX_CSV_BYTES + 1024)
    async def import_staff(
        self,
        request: Request[Any, Any, Any],
        directory_admin: DirectoryAdmin,
        administrator: AdminCaller,
    ) -> Response[Any]:
        """A CSV file as the body (text/csv, UTF-8): all lines are stored, or none."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in _CSV_TYPES:
            raise ProblemError(415, "unsupported-media-type", "Send the file as text/csv")
        body = await request.body()
        try:
            records = parse_staff_csv(body, await directory_admin.active_service_names())
            result: ImportResult = await directory_admin.import_staff(administrator, records)
        except CsvRejectedError as error:
            return _rejected_file(error)
        return Response(result)

    @get("/audit")
    async def audit(
        self,
        directory_admin: DirectoryAdmin,
        administrator: AdminCaller,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[AuditRecord]:
        return await directory_admin.audit(limit)
