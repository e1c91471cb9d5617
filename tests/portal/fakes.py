"""In-process fakes of auth and logg for the portal's unit tests (httpx.MockTransport handlers).

They speak the contracts in docs/architecture.md closely enough to exercise the portal, and
record every request body so tests can check that no plaintext left the portal.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import msgspec
from joserfc import jwt
from joserfc.jwk import OKPKey

from shared.crypto.keys import ParticipantKeys, generate_participant_keys
from shared.wire import (
    EntryPage,
    EntryView,
    KeyGrantView,
    NewEntry,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantView,
    StafettloggPage,
    StafettloggView,
)

__all__ = ["FakeAuth", "FakeLogg", "Person", "ServiceUnit"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def _problem(status: int, slug: str) -> httpx.Response:
    body = {"type": f"urn:stafettlogg:problem:{slug}", "title": slug, "status": status}
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/problem+json"},
    )


@dataclass
class ServiceUnit:
    id: str
    name: str
    keys: ParticipantKeys = field(default_factory=generate_participant_keys)


@dataclass
class Person:
    subject: str
    name: str
    role: str
    keys: ParticipantKeys = field(default_factory=generate_participant_keys)
    service: ServiceUnit | None = None
    pid: str | None = None
    admin: bool = False
    active: bool = True


class FakeAuth:
    """auth: sessions by cookie value, token exchange, session context, directory."""

    def __init__(self, auth_url: str, client_public: OKPKey) -> None:
        self.auth_url = auth_url
        self.client_public = client_public
        self.persons: dict[str, Person] = {}
        self.services: dict[str, ServiceUnit] = {}
        self.sessions: dict[str, str] = {}
        self.requests: list[httpx.Request] = []
        self.down = False
        self.imported: list[bytes] = []

    def add_person(self, person: Person, session_cookie: str | None = None) -> Person:
        self.persons[person.subject] = person
        if person.service is not None:
            self.services[person.service.id] = person.service
        if session_cookie is not None:
            self.sessions[session_cookie] = person.subject
        return person

    def add_service(self, unit: ServiceUnit) -> ServiceUnit:
        self.services[unit.id] = unit
        return unit

    def subject_of_token(self, token: str) -> str | None:
        prefix = "tok-stafett-logg-"
        return token[len(prefix) :] if token.startswith(prefix) else None

    def _check_client(self, form: dict[str, str]) -> bool:
        if (
            form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return False
        token = jwt.decode(form["client_assertion"], self.client_public, algorithms=["Ed25519"])
        claims = token.claims
        return (
            claims["iss"] == "stafett-portal"
            and claims["sub"] == "stafett-portal"
            and claims["aud"] == self.auth_url
            and claims["exp"] > datetime.now(UTC).timestamp()
            and bool(claims["jti"])
        )

    def _caller(self, request: httpx.Request) -> Person | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer tok-stafett-auth-"):
            return None
        return self.persons.get(header.removeprefix("Bearer tok-stafett-auth-"))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("auth is down", request=request)
        path = request.url.path
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path in {"/token", "/session"} and request.method == "POST":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            if not self._check_client(form):
                return _json(401, {"error": "invalid_client"})
            subject = self.sessions.get(form.get("subject_token", ""))
            if subject is None:
                return _json(400, {"error": "invalid_grant"})
            person = self.persons[subject]
            if path == "/token":
                assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
                assert form["subject_token_type"] == "urn:stafettlogg:token-type:session"
                audience = form["audience"]
                return _json(
                    200,
                    {
                        "access_token": f"tok-{audience}-{subject}",
                        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                        "token_type": "Bearer",
                        "expires_in": 300,
                    },
                )
            service = person.service
            return _json(
                200,
                {
                    "subject": person.subject,
                    "role": person.role,
                    "name": person.name,
                    "acr": "idporten-loa-high",
                    "service": {"id": service.id, "name": service.name} if service else None,
                    "keys": _b64(person.keys.to_bytes()),
                    "service_keys": _b64(service.keys.to_bytes()) if service else None,
                    "expires_at": "2099-01-01T00:00:00Z",
                    "admin": person.admin,
                },
            )
        caller = self._caller(request)
        if caller is None:
            return _json(401, {"error": "invalid_token"})
        if path.startswith("/admin/"):
            return _fake_admin(self, request, caller, path.removeprefix("/admin"))
        if path == "/directory/services":
            return _json(
                200,
                [
                    {
                        "id": unit.id,
                        "name": unit.name,
                        "hpke_public": _b64(unit.keys.public().hpke_public),
                        "sign_public": _b64(unit.keys.public().sign_public),
                    }
                    for unit in self.services.values()
                ],
            )
        if path == "/directory/persons/lookup":
            if caller.role != "staff":
                return _problem(403, "forbidden")
            pid = json.loads(request.content)["pid"]
            found = next((p for p in self.persons.values() if p.pid == pid), None)
            if found is None:
                return _problem(400, "invalid-pid")
            public = found.keys.public()
            return _json(
                200,
                {
                    "subject": found.subject,
                    "name": found.name,
                    "hpke_public": _b64(public.hpke_public),
                    "sign_public": _b64(public.sign_public),
                },
            )
        if path.startswith("/directory/principals/"):
            _, kind, id_ = path.removeprefix("/directory/").split("/")
            if kind == "person" and id_ in self.persons:
                name, public = self.persons[id_].name, self.persons[id_].keys.public()
            elif kind == "service" and id_ in self.services:
                name, public = self.services[id_].name, self.services[id_].keys.public()
            else:
                return _problem(404, "not-found")
            return _json(
                200,
                {
                    "kind": kind,
                    "id": id_,
                    "name": name,
                    "hpke_public": _b64(public.hpke_public),
                    "sign_public": _b64(public.sign_public),
                },
            )
        return _problem(404, "not-found")


def _admin_view(person: Person) -> dict[str, Any]:
    return {
        "subject": person.subject,
        "name": person.name,
        "service_ids": [person.service.id] if person.service else [],
        "admin": person.admin,
        "active": person.active,
    }


def _fake_admin(
    self: FakeAuth, request: httpx.Request, caller: Person, path: str
) -> httpx.Response:
    """auth's /admin API, enough for the portal's pages: admins only, as auth checks."""
    if not (caller.admin and caller.role == "staff"):
        return _problem(403, "forbidden")
    if path == "/services" and request.method == "GET":
        return _json(
            200,
            [
                {"id": u.id, "name": u.name, "active": True, "staff_count": 0}
                for u in self.services.values()
            ],
        )
    if path == "/services" and request.method == "POST":
        body = json.loads(request.content)
        if body["id"] in self.services:
            return _problem(409, "service-exists")
        unit = self.add_service(ServiceUnit(body["id"], body["name"]))
        return _json(201, {"id": unit.id, "name": unit.name, "active": True, "staff_count": 0})
    staff = [p for p in self.persons.values() if p.role == "staff"]
    if path == "/staff" and request.method == "GET":
        return _json(200, [_admin_view(p) for p in staff])
    if path == "/staff" and request.method == "POST":
        body = json.loads(request.content)
        if body["pid"].endswith("9"):  # stands for a failed mod-11 check
            return _problem(400, "invalid-fodselsnummer")
        if any(p.pid == body["pid"] for p in self.persons.values()):
            return _problem(409, "staff-exists")
        service_ids = body["service_ids"]
        person = self.add_person(
            Person(
                f"p_new{len(self.persons)}",
                body["name"],
                "staff",
                service=self.services[service_ids[0]] if service_ids else None,
                pid=body["pid"],
                admin=body["admin"],
            )
        )
        return _json(201, _admin_view(person))
    if path.startswith("/staff/") and path.endswith("/deactivate"):
        subject = path.split("/")[2]
        target = self.persons.get(subject)
        if target is None:
            return _problem(404, "not-found")
        if target is caller:
            return _problem(409, "own-admin-role")
        target.active = False
        return _json(200, _admin_view(target))
    if path == "/staff/import" and request.method == "POST":
        if not request.headers.get("content-type", "").startswith("text/csv"):
            return _problem(415, "unsupported-media-type")
        self.imported.append(request.content)
        if b"FEIL" in request.content:
            body = {
                "type": "urn:stafettlogg:problem:invalid-staff-file",
                "title": "refused",
                "status": 400,
                "errors": [{"line": 3, "reason": "ugyldig fødselsnummer"}],
            }
            return httpx.Response(
                400,
                content=json.dumps(body).encode(),
                headers={"content-type": "application/problem+json"},
            )
        lines = len(request.content.decode().strip().splitlines()) - 1
        return _json(200, {"created": lines, "updated": 0, "unchanged": 0})
    return _problem(404, "not-found")


@dataclass
class _StoredLog:
    id: str
    created_at: datetime
    current_epoch: int
    new: NewStafettlogg
    participants: list[ParticipantView]
    grants: list[KeyGrantView]
    entries: list[EntryView] = field(default_factory=list)


class FakeLogg:
    """logg: an in-memory store of what the portal POSTs, with participation checks."""

    def __init__(self, auth: FakeAuth) -> None:
        self.auth = auth
        self.logs: dict[str, _StoredLog] = {}
        self.request_bodies: list[bytes] = []
        self.down = False

    def _memberships(self, log: _StoredLog, subject: str) -> list[ParticipantView]:
        person = self.auth.persons[subject]
        service_id = person.service.id if person.service else None
        return [
            p
            for p in log.participants
            if (p.kind == "person" and p.principal_id == subject)
            or (p.kind == "service" and p.principal_id == service_id)
        ]

    def _view(self, log: _StoredLog, subject: str) -> StafettloggView:
        person = self.auth.persons[subject]
        service_id = person.service.id if person.service else None
        grants = [
            g
            for g in log.grants
            if (g.recipient_kind == "person" and g.recipient_id == subject)
            or (g.recipient_kind == "service" and g.recipient_id == service_id)
        ]
        return StafettloggView(
            id=log.id,
            status="open",
            level=0,
            current_epoch=log.current_epoch,
            created_at=log.created_at,
            sealed_description=log.new.sealed_description,
            participants=log.participants,
            key_grants=grants,
        )

    def _encode(self, status: int, value: msgspec.Struct) -> httpx.Response:
        return httpx.Response(
            status, content=msgspec.json.encode(value), headers={"content-type": "application/json"}
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("logg is down", request=request)
        path = request.url.path
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if request.content:
            self.request_bodies.append(request.content)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        subject = self.auth.subject_of_token(token)
        if subject is None:
            return _problem(401, "unauthenticated")
        parts = path.strip("/").split("/")
        now = datetime.now(UTC)
        if parts == ["stafettlogger"] and request.method == "POST":
            new = msgspec.json.decode(request.content, type=NewStafettlogg)
            log = _StoredLog(
                id=new.id,
                created_at=now,
                current_epoch=1,
                new=new,
                participants=[ParticipantView("person", subject, "coordinator", now)],
                grants=[
                    KeyGrantView(g.epoch, g.recipient_kind, g.recipient_id, g.wrapped_key)
                    for g in new.key_grants
                ],
            )
            self.logs[new.id] = log
            return self._encode(201, self._view(log, subject))
        if parts == ["stafettlogger"]:
            items = [
                self._view(log, subject)
                for log in self.logs.values()
                if self._memberships(log, subject)
            ]
            return self._encode(200, StafettloggPage(items=items))
        stored = self.logs.get(parts[1]) if len(parts) >= 2 else None
        if stored is None:
            return _problem(404, "not-found")
        return self._handle_log(request, stored, subject, parts, now)

    def _handle_log(
        self, request: httpx.Request, log: _StoredLog, subject: str, parts: list[str], now: datetime
    ) -> httpx.Response:
        memberships = self._memberships(log, subject)
        if not memberships:
            return _problem(403, "forbidden")
        if len(parts) == 2:
            return self._encode(200, self._view(log, subject))
        if parts[2] == "participants" and request.method == "POST":
            if not any(p.role == "coordinator" for p in memberships):
                return _problem(403, "forbidden")
            added = msgspec.json.decode(request.content, type=NewParticipantRequest)
            if any(
                p.kind == added.participant.kind
                and p.principal_id == added.participant.principal_id
                for p in log.participants
            ):
                return _problem(409, "conflict")
            view = ParticipantView(
                added.participant.kind, added.participant.principal_id, added.participant.role, now
            )
            log.participants.append(view)
            log.grants.extend(
                KeyGrantView(g.epoch, g.recipient_kind, g.recipient_id, g.wrapped_key)
                for g in added.key_grants
            )
            return self._encode(201, view)
        if parts[2] == "entries" and request.method == "POST":
            if not any(p.role in {"coordinator", "writer"} for p in memberships):
                return _problem(403, "forbidden")
            entry = msgspec.json.decode(request.content, type=NewEntry)
            stored = EntryView(id=entry.sealed.header.entry_id, sealed=entry.sealed, stored_at=now)
            log.entries.append(stored)
            return self._encode(201, stored)
        if parts[2] == "entries":
            limit = int(request.url.params.get("limit", "20"))
            start = int(request.url.params.get("cursor", "0"))
            newest_first = list(reversed(log.entries))
            page = newest_first[start : start + limit]
            more = start + limit < len(newest_first)
            return self._encode(
                200, EntryPage(items=page, next_cursor=str(start + limit) if more else None)
            )
        return _problem(404, "not-found")
