"""The staff directory as municipal administrators keep it: service units, staff (in one or more
units, optionally administrators), CSV import, and an audit trail of every change."""

from __future__ import annotations

from services.auth.directory_admin.routes import DirectoryAdminController
from services.auth.directory_admin.service import DirectoryAdmin, DirectoryAdminService

__all__ = ["DirectoryAdmin", "DirectoryAdminController", "DirectoryAdminService"]
