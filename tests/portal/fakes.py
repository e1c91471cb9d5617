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

from shared.crypto.envelope import SealedEnvelope
from shared.crypto.keys import ParticipantKeys, generate_participant_keys
from shared.wire import (
    AccessRecordPage,
    AccessRecordView,
    ClosingRequest,
    ConsentPage,
    ConsentView,
    EntryPage,
    EntryView,
    EpochRecipient,
    EpochStatus,
    ErasureCounts,
    ErasureReport,
    ErasureRequest,
    HandoverAcceptance,
    HandoverView,
    KeptRecord,
    KeyGrantView,
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
    ParticipantView,
    StafettloggPage,
    StafettloggView,
    WithdrawalRequest,
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
    services: list[ServiceUnit] = field(default_factory=list)  # units they may act for


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
        self.deactivated_services: set[str] = set()  # auth refuses to act for these
        self.municipal_settings = {"youth_consent_age": 16, "retention_years": 10}

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

    def choices(self, person: Person) -> list[ServiceUnit]:
        """The units a staff member may act for, as auth's session context lists them."""
        if person.role != "staff":
            return []
        return person.services or ([person.service] if person.service else [])

    def _municipal_settings(self, request: httpx.Request, caller: Person) -> httpx.Response:
        """Anyone signed in reads; administrators change, within 15-16 and 1-100 as auth checks."""
        if request.method == "PUT":
            if not (caller.admin and caller.role == "staff"):
                return _problem(403, "forbidden")
            body = json.loads(request.content)
            if body.get("youth_consent_age") not in (15, 16) or not (
                1 <= body.get("retention_years", 0) <= 100
            ):
                return _problem(400, "invalid")
            self.municipal_settings = body
        return _json(200, self.municipal_settings)

    def _act_for_service(self, request: httpx.Request) -> httpx.Response:
        """`POST /session/service`: switch to a unit the person may act for, else 403."""
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if not self._check_client(form):
            return _json(401, {"error": "invalid_client"})
        subject = self.sessions.get(form.get("subject_token", ""))
        if subject is None:
            return _json(401, {"error": "invalid_grant"})
        person = self.persons[subject]
        chosen = next((u for u in self.choices(person) if u.id == form.get("service_id")), None)
        if chosen is None or chosen.id in self.deactivated_services:
            return _json(403, {"error": "access_denied"})
        person.service = chosen
        return _json(
            200,
            {
                "subject": person.subject,
                "role": person.role,
                "name": person.name,
                "acr": "idporten-loa-high",
                "service": {"id": chosen.id, "name": chosen.name},
                "keys": _b64(person.keys.to_bytes()),
                "service_keys": _b64(chosen.keys.to_bytes()),
                "admin": person.admin,
                "services": [{"id": u.id, "name": u.name} for u in self.choices(person)],
            },
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("auth is down", request=request)
        path = request.url.path
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/session/service" and request.method == "POST":
            return self._act_for_service(request)
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
                    "services": [{"id": u.id, "name": u.name} for u in self.choices(person)],
                },
            )
        caller = self._caller(request)
        if caller is None:
            return _json(401, {"error": "invalid_token"})
        if path.startswith("/admin/"):
            return _fake_admin(self, request, caller, path.removeprefix("/admin"))
        if path == "/municipality/settings":
            return self._municipal_settings(request, caller)
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
    consents: list[ConsentView] = field(default_factory=list)  # oldest first
    consent_scans: dict[str, SealedEnvelope] = field(default_factory=dict)
    access_records: list[AccessRecordView] = field(default_factory=list)  # oldest first
    # The lifecycle (services.portal.lifecycle): level, handover, closing.
    status: str = "open"
    level: int = 0
    level_changes: list[LevelChangeView] = field(default_factory=list)  # oldest first
    handovers: list[HandoverView] = field(default_factory=list)
    closed_at: datetime | None = None
    closed_by: str | None = None
    closing_note_id: str | None = None
    # Key epochs (services.logg.epochs): set when a participant left holding the current key.
    rotation_required: bool = False


class FakeLogg:
    """logg: an in-memory store of what the portal POSTs, with participation checks."""

    def __init__(self, auth: FakeAuth) -> None:
        self.auth = auth
        self.logs: dict[str, _StoredLog] = {}
        self.request_bodies: list[bytes] = []
        self.requests: list[httpx.Request] = []  # every request but /healthz, in order
        self.down = False
        self.epochs_started: list[NewEpoch] = []  # every POST .../epochs body
        self.key_grants_sent: list[NewKeyGrants] = []  # every POST .../key-grants body

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
        pending = next((h for h in log.handovers if h.status == "proposed"), None)
        return StafettloggView(
            id=log.id,
            status="open" if log.status == "open" else "closed",
            level=log.level,
            current_epoch=log.current_epoch,
            created_at=log.created_at,
            sealed_description=log.new.sealed_description,
            participants=log.participants,
            key_grants=grants,
            coordinator=next(
                (p.principal_id for p in log.participants if p.role == "coordinator"), None
            ),
            closed_at=log.closed_at,
            closed_by=log.closed_by,
            closing_note_id=log.closing_note_id,
            pending_handover=pending,
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
        self.requests.append(request)
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
        if parts[-1] == "erasure" and request.method == "POST":
            return _fake_erasure(self, request, stored, subject, parts, now)
        return self._handle_log(request, stored, subject, parts, now)

    def _handle_log(
        self, request: httpx.Request, log: _StoredLog, subject: str, parts: list[str], now: datetime
    ) -> httpx.Response:
        memberships = self._memberships(log, subject)
        if not memberships:
            return _problem(403, "forbidden")
        if len(parts) == 2:
            return self._encode(200, self._view(log, subject))
        if parts[2] == "epochs":
            return _fake_epoch_routes(self, request, log, memberships)
        if parts[2] == "key-grants" and request.method == "POST":
            return _fake_key_grants(self, request, log, memberships)
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
                added.participant.kind,
                added.participant.principal_id,
                added.participant.role,
                now,
                youth=added.participant.youth,
                youth_declared_by=subject if added.participant.youth else None,
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
            if log.status != "open":
                return _problem(403, "stafettlogg-closed")
            if log.rotation_required:
                return _problem(409, "epoch-rotation-required")
            entry = msgspec.json.decode(request.content, type=NewEntry)
            if entry.sealed.header.epoch != log.current_epoch:
                return _problem(400, "wrong-epoch")
            stored = EntryView(
                id=entry.sealed.header.entry_id,
                sealed=entry.sealed,
                stored_at=now,
                refers_to=entry.refers_to,
                due_on=entry.due_on,
            )
            log.entries.append(stored)
            return self._encode(201, stored)
        if parts[2] == "entries":
            params = request.url.params
            limit = int(params.get("limit", "20"))
            start = int(params.get("cursor", "0"))
            if len(params.get_list("id")) > 100 or len(params.get_list("refers_to")) > 100:
                return _problem(400, "invalid-entry-filter")
            newest_first = [e for e in reversed(log.entries) if _entry_fits(e, params)]
            page = newest_first[start : start + limit]
            more = start + limit < len(newest_first)
            return self._encode(
                200, EntryPage(items=page, next_cursor=str(start + limit) if more else None)
            )
        if parts[2] in {"level", "level-changes", "handover", "close", "participants"}:
            return _fake_lifecycle_routes(self, request, log, subject, memberships, parts, now)
        if parts[2] in {"consents", "access-records"}:
            return _fake_consent_routes(self, request, log, subject, memberships, parts, now)
        return _problem(404, "not-found")


def _entry_fits(entry: EntryView, params: httpx.QueryParams) -> bool:
    """Whether an entry passes the filters of GET .../entries (every filter given must hold)."""
    types, refers_to, ids = (params.get_list(name) for name in ("type", "refers_to", "id"))
    return (
        (not types or entry.sealed.header.type in types)
        and (not refers_to or entry.refers_to in refers_to)
        and (not ids or entry.id in ids)
    )


def _fake_consent_routes(
    fake: FakeLogg,
    request: httpx.Request,
    log: _StoredLog,
    subject: str,
    memberships: list[ParticipantView],
    parts: list[str],
    now: datetime,
) -> httpx.Response:
    """logg's consent and access-record routes, with its rules in short: a guardian taking part
    gives or withdraws in the portal; the coordinator records paper with a sealed scan; the
    access log is for the guardians and the coordinator."""
    person = fake.auth.persons[subject]
    guardian = person.role == "guardian" and any(p.kind == "person" for p in memberships)
    coordinator = any(p.role == "coordinator" for p in memberships)
    if parts[2] == "access-records":
        if not (guardian or coordinator):
            return _problem(403, "family-or-coordinator-only")
        limit = int(request.url.params.get("limit", "20"))
        start = int(request.url.params.get("cursor", "0"))
        newest_first = list(reversed(log.access_records))
        more = start + limit < len(newest_first)
        return fake._encode(
            200,
            AccessRecordPage(
                items=newest_first[start : start + limit],
                next_cursor=str(start + limit) if more else None,
            ),
        )
    if parts == [parts[0], parts[1], "consents"] and request.method == "GET":
        return fake._encode(200, ConsentPage(items=list(reversed(log.consents))))
    if len(parts) == 3 and request.method == "POST":
        new = msgspec.json.decode(request.content, type=NewConsent)
        if new.method == "portal" and not guardian:
            return _problem(403, "guardian-only")
        if new.method == "paper":
            if not coordinator:
                return _problem(403, "coordinator-only")
            if new.scan is None or new.given_by is None:
                return _problem(400, "scan-required")
            if new.scan.header.type != "consent_scan" or new.scan.header.entry_id != new.id:
                return _problem(400, "header-mismatch")
            log.consent_scans[new.id] = new.scan
        if any(c.id == new.id for c in log.consents):
            return _problem(409, "consent-exists")
        view = ConsentView(
            id=new.id,
            service_id=new.service_id,
            status=new.status,
            scopes=new.scopes,
            valid_from=new.valid_from,
            valid_until=new.valid_until,
            method=new.method,
            given_by=new.given_by or subject,
            recorded_by=subject,
            recorded_at=now,
            has_scan=new.scan is not None,
            valid_now=new.status == "given" and new.valid_from <= now < new.valid_until,
            history=new.history and new.status == "given",
        )
        log.consents.append(view)
        return fake._encode(201, view)
    if len(parts) == 5 and parts[4] == "withdraw" and request.method == "POST":
        withdrawal = msgspec.json.decode(request.content, type=WithdrawalRequest)
        if withdrawal.method == "portal" and not guardian:
            return _problem(403, "guardian-only")
        if withdrawal.method == "paper" and not coordinator:
            return _problem(403, "coordinator-only")
        index = next((i for i, c in enumerate(log.consents) if c.id == parts[3]), None)
        if index is None:
            return _problem(404, "consent-not-found")
        existing = log.consents[index]
        if existing.status == "refused":
            return _problem(409, "consent-not-given")
        if withdrawal.scan is not None:
            log.consent_scans[f"{existing.id}-withdrawal"] = withdrawal.scan
        withdrawn = msgspec.structs.replace(
            existing,
            status="withdrawn",
            valid_now=False,
            withdrawn_at=existing.withdrawn_at or now,
            withdrawn_by=existing.withdrawn_by or subject,
            withdrawal_method=existing.withdrawal_method or withdrawal.method,
        )
        log.consents[index] = withdrawn
        if _departed(log, existing.service_id, now):
            _participant_left(log, "service", existing.service_id)
        return fake._encode(200, withdrawn)
    return _problem(404, "not-found")


def _fake_lifecycle_routes(
    fake: FakeLogg,
    request: httpx.Request,
    log: _StoredLog,
    subject: str,
    memberships: list[ParticipantView],
    parts: list[str],
    now: datetime,
) -> httpx.Response:
    """logg's level, handover, close and participant-removal routes, with their rules in short.
    Sealed bodies are stored as they come: the fake, like logg, never sees plaintext."""
    coordinator = any(p.role == "coordinator" for p in memberships)
    guardian = fake.auth.persons[subject].role == "guardian"
    if parts[2] == "level-changes":
        return fake._encode(200, LevelChangePage(items=list(reversed(log.level_changes))))
    if log.status != "open":
        return _problem(403, "stafettlogg-closed")
    if parts[2] == "level" and request.method == "POST":
        if not coordinator:
            return _problem(403, "coordinator-only")
        change = msgspec.json.decode(request.content, type=LevelChangeRequest)
        if change.reason.header.type != "level_change":
            return _problem(400, "invalid-entry")
        if change.level == log.level:
            return _problem(409, "level-unchanged")
        reason_id = change.reason.header.entry_id
        log.entries.append(EntryView(id=reason_id, sealed=change.reason, stored_at=now))
        view = LevelChangeView(reason_id, log.level, change.level, subject, now)
        log.level_changes.append(view)
        log.level = change.level
        return fake._encode(201, view)
    if parts[2:] == ["handover"] and request.method == "POST":
        if not coordinator:
            return _problem(403, "coordinator-only")
        proposal = msgspec.json.decode(request.content, type=NewHandover)
        if not any(
            p.kind == "person" and p.principal_id == proposal.to_subject and p.role != "coordinator"
            for p in log.participants
        ):
            return _problem(400, "invalid-handover")
        log.handovers = [
            msgspec.structs.replace(h, status="superseded") if h.status == "proposed" else h
            for h in log.handovers
        ]
        proposed = HandoverView(proposal.id, subject, proposal.to_subject, "proposed", now)
        log.handovers.append(proposed)
        return fake._encode(201, proposed)
    if parts[2:] == ["handover", "accept"] and request.method == "POST":
        acceptance = msgspec.json.decode(request.content, type=HandoverAcceptance)
        pending = next((h for h in log.handovers if h.status == "proposed"), None)
        if pending is None or pending.to_subject != subject:
            return _problem(403, "not-handover-candidate")
        if pending.id != acceptance.handover_id or fake.auth.persons[subject].role != "staff":
            return _problem(409 if pending.id != acceptance.handover_id else 403, "refused")
        accepted = msgspec.structs.replace(pending, status="accepted", accepted_at=now)
        log.handovers = [accepted if h.id == pending.id else h for h in log.handovers]
        log.participants = [
            msgspec.structs.replace(
                p,
                role="writer"
                if p.principal_id == pending.from_subject
                else "coordinator"
                if p.principal_id == subject
                else p.role,
            )
            if p.kind == "person"
            else p
            for p in log.participants
        ]
        return fake._encode(200, accepted)
    if parts[2] == "close" and request.method == "POST":
        if not (coordinator or guardian):
            return _problem(403, "coordinator-or-guardian-only")
        closing = msgspec.json.decode(request.content, type=ClosingRequest)
        if closing.closing_note is None or closing.closing_note.header.type != "closing_note":
            return _problem(400, "invalid-request")
        note_id = closing.closing_note.header.entry_id
        log.entries.append(EntryView(id=note_id, sealed=closing.closing_note, stored_at=now))
        log.status, log.closed_at, log.closed_by, log.closing_note_id = (
            "closed",
            now,
            subject,
            note_id,
        )
        return fake._encode(200, fake._view(log, subject))
    if parts[2] == "participants" and len(parts) == 5 and request.method == "DELETE":
        if not coordinator:
            return _problem(403, "coordinator-only")
        kind, principal_id = parts[3], parts[4]
        if kind == "person" and any(
            p.principal_id == principal_id and p.role == "coordinator" for p in log.participants
        ):
            return _problem(409, "coordinator-cannot-leave")
        log.participants = [
            p for p in log.participants if (p.kind, p.principal_id) != (kind, principal_id)
        ]
        _participant_left(log, kind, principal_id)
        return httpx.Response(204)
    return _problem(404, "not-found")


def _departed(log: _StoredLog, service_id: str, now: datetime) -> bool:
    """logg's rule (models.departed_service_clause): no valid consent, and one that lapsed."""
    own = [c for c in log.consents if c.service_id == service_id]
    if any(c.status == "given" and c.valid_from <= now < c.valid_until for c in own):
        return False
    return any(c.status in {"withdrawn", "refused"} or c.valid_until <= now for c in own)


def _participant_left(log: _StoredLog, kind: str, principal_id: str) -> None:
    """As logg does at a removal or withdrawal: delete the grants, require the next epoch."""
    held = [g for g in log.grants if (g.recipient_kind, g.recipient_id) == (kind, principal_id)]
    if any(g.epoch == log.current_epoch for g in held):
        log.rotation_required = True
    log.grants = [g for g in log.grants if g not in held]


def _fake_epoch_routes(
    fake: FakeLogg, request: httpx.Request, log: _StoredLog, memberships: list[ParticipantView]
) -> httpx.Response:
    """GET and POST .../epochs: who remains, and starting the next epoch for exactly them."""
    now = datetime.now(UTC)
    remaining = sorted(
        (p.kind, p.principal_id)
        for p in log.participants
        if p.kind == "person" or not _departed(log, p.principal_id, now)
    )
    recipients = [
        EpochRecipient(kind=p.kind, id=p.principal_id)
        for p in log.participants
        if (p.kind, p.principal_id) in remaining
    ]
    if request.method == "GET":
        return fake._encode(200, EpochStatus(log.current_epoch, log.rotation_required, recipients))
    if not any(p.role in {"coordinator", "writer"} for p in memberships):
        return _problem(403, "read-only")
    new = msgspec.json.decode(request.content, type=NewEpoch)
    fake.epochs_started.append(new)
    if new.epoch != log.current_epoch + 1:
        return _problem(409, "epoch-conflict")
    sent = sorted((g.recipient_kind, g.recipient_id) for g in new.key_grants)
    if sent != remaining or any(g.epoch != new.epoch for g in new.key_grants):
        return _problem(400, "invalid-key-grant")
    log.grants = [g for g in log.grants if (g.recipient_kind, g.recipient_id) in remaining]
    log.grants.extend(
        KeyGrantView(g.epoch, g.recipient_kind, g.recipient_id, g.wrapped_key)
        for g in new.key_grants
    )
    log.current_epoch, log.rotation_required = new.epoch, False
    return fake._encode(201, EpochStatus(new.epoch, False, recipients))


def _fake_key_grants(
    fake: FakeLogg, request: httpx.Request, log: _StoredLog, memberships: list[ParticipantView]
) -> httpx.Response:
    """POST .../key-grants (services.logg.epochs.grant_keys) in short: a writer wraps keys for
    a participant who remains (a service: with valid consent); earlier epochs only under a
    consent that allows history; a grant already held is kept."""
    if not any(p.role in {"coordinator", "writer"} for p in memberships):
        return _problem(403, "read-only")
    new = msgspec.json.decode(request.content, type=NewKeyGrants)
    fake.key_grants_sent.append(new)
    kind, rid = new.recipient_kind, new.recipient_id
    listed = any(p.kind == kind and p.principal_id == rid for p in log.participants)
    valid = [c for c in log.consents if c.service_id == rid and c.valid_now]
    if not listed or (kind == "service" and not valid):
        return _problem(409, "recipient-not-taking-part")
    epochs = [g.epoch for g in new.key_grants]
    if log.current_epoch not in epochs or max(epochs) > log.current_epoch:
        return _problem(400, "invalid-key-grant")
    history = any(c.history for c in valid)
    if kind == "service" and min(epochs) < log.current_epoch and not history:
        return _problem(400, "history-not-consented")
    held = {g.epoch for g in log.grants if (g.recipient_kind, g.recipient_id) == (kind, rid)}
    log.grants.extend(
        KeyGrantView(g.epoch, kind, rid, g.wrapped_key)
        for g in new.key_grants
        if g.epoch not in held
    )
    return fake._encode(201, EpochStatus(log.current_epoch, log.rotation_required, []))


def _fake_erasure(
    fake: FakeLogg,
    request: httpx.Request,
    log: _StoredLog,
    subject: str,
    parts: list[str],
    now: datetime,
) -> httpx.Response:
    """POST .../erasure and .../entries/{id}/erasure (services.logg.erasure) in short: an
    administrator only; a whole log only once closed; the report says what was kept."""
    caller = fake.auth.persons.get(subject)
    if caller is None or not (caller.admin and caller.role == "staff"):
        return _problem(403, "administrator-only")
    reason = msgspec.json.decode(request.content, type=ErasureRequest).reason
    kept = [KeptRecord("access-records", len(log.access_records) + 1, "archive law")]
    if len(parts) == 3:
        if log.status != "closed":
            return _problem(409, "stafettlogg-open")
        deleted = ErasureCounts(
            key_grants=len(log.grants), entries=len(log.entries), consents=len(log.consents)
        )
        del fake.logs[log.id]
        report = ErasureReport(log.id, "stafettlogg", now, subject, reason, deleted, kept)
        return fake._encode(201, report)
    entry_id = parts[3]
    if not any(entry.id == entry_id for entry in log.entries):
        return _problem(404, "entry-not-found")
    log.entries = [entry for entry in log.entries if entry.id != entry_id]
    report = ErasureReport(
        log.id, "entry", now, subject, reason, ErasureCounts(entries=1), kept, entry_id=entry_id
    )
    return fake._encode(201, report)
