"""The access rules as tables: first `decide` alone, then every role against every endpoint of a
real app, on an open and on a closed log. Allowed = anything but a 403 (and, for listing, that
the log is listed); the tables below are the specification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from services.logg.access import (
    Action,
    ConsentState,
    Participation,
    Policy,
    decide,
    require,
)
from shared.problems import ProblemError
from shared.tokens import ServiceClaims
from shared.wire import (
    ClosingRequest,
    ErasureRequest,
    HandoverAcceptance,
    LevelChangeRequest,
    NewHandover,
    NewKeyGrants,
    WithdrawalRequest,
)
from tests.logg.helpers import (
    Actor,
    LoggApi,
    TokenMinter,
    consent_body,
    entry_body,
    new_id,
    participant_body,
    seal,
    wrap_grant,
)


def _claims(role: str) -> ServiceClaims:
    """Claims for a token role; "admin" is a staff member who is a municipal administrator."""
    admin = role == "admin"
    role = "staff" if admin else role
    return ServiceClaims(
        iss="auth", sub="person-1", aud="stafett-logg", role=role, acr="high",  # type: ignore[arg-type]
        sign_key="k", jti="j", iat=0, nbf=0, exp=0,
        service="school" if role == "staff" else None, admin=admin,
    )  # fmt: skip


V, X, W = ConsentState.VALID, ConsentState.EXPIRED, ConsentState.WITHDRAWN
COORD = Participation(frozenset({"coordinator"}))
GUARDIAN = Participation(frozenset({"writer"}))
SERVICE_OK = Participation(service_roles=frozenset({"writer"}), consent=V)
SERVICE_EXPIRED = Participation(service_roles=frozenset({"writer"}), consent=X)
SERVICE_WITHDRAWN = Participation(service_roles=frozenset({"writer"}), consent=W)
STAFF_PERSON_NO_CONSENT = Participation(frozenset({"writer"}))
SERVICE_READER = Participation(service_roles=frozenset({"reader"}), consent=V)
NONE = Participation()
CANDIDATE = Participation(frozenset({"writer"}), consent=V, handover_candidate=True)

CASES = [
    # token role, participation, log status, action, expected reason
    ("staff", NONE, None, Action.CREATE_STAFETTLOGG, "allowed"),
    ("guardian", NONE, None, Action.CREATE_STAFETTLOGG, "staff-only"),
    ("staff", NONE, "open", Action.READ_ENTRIES, "not-a-participant"),
    ("guardian", NONE, "open", Action.READ_STAFETTLOGG, "not-a-participant"),
    ("staff", SERVICE_EXPIRED, "open", Action.READ_ENTRIES, "consent-missing"),
    ("staff", SERVICE_WITHDRAWN, "open", Action.READ_STAFETTLOGG, "consent-missing"),
    ("staff", STAFF_PERSON_NO_CONSENT, "open", Action.READ_ENTRIES, "consent-missing"),
    ("staff", SERVICE_OK, "open", Action.WRITE_ENTRY, "allowed"),
    ("staff", SERVICE_OK, "closed", Action.WRITE_ENTRY, "stafettlogg-closed"),
    ("staff", SERVICE_OK, "open", Action.READ_ACCESS_LOG, "family-or-coordinator-only"),
    ("staff", SERVICE_OK, "open", Action.GIVE_CONSENT, "guardian-only"),
    ("staff", SERVICE_OK, "open", Action.CLOSE, "coordinator-or-guardian-only"),
    ("staff", COORD, "open", Action.CHANGE_LEVEL, "allowed"),
    ("staff", COORD, "closed", Action.CHANGE_LEVEL, "stafettlogg-closed"),
    ("staff", COORD, "closed", Action.READ_ACCESS_LOG, "allowed"),
    ("staff", COORD, "open", Action.GIVE_CONSENT, "guardian-only"),
    ("staff", COORD, "open", Action.ACCEPT_HANDOVER, "not-handover-candidate"),
    ("staff", CANDIDATE, "open", Action.ACCEPT_HANDOVER, "allowed"),
    ("guardian", GUARDIAN, "open", Action.GIVE_CONSENT, "allowed"),
    ("guardian", GUARDIAN, "open", Action.RECORD_PAPER_CONSENT, "coordinator-only"),
    ("guardian", GUARDIAN, "open", Action.CLOSE, "allowed"),
    ("guardian", GUARDIAN, "closed", Action.WITHDRAW_CONSENT, "stafettlogg-closed"),
    ("guardian", Participation(frozenset({"reader"})), "open", Action.WRITE_ENTRY, "read-only"),
    # Wrapping keys for a participant holding none (consent given again): who may rotate.
    ("guardian", GUARDIAN, "open", Action.GRANT_KEYS, "allowed"),
    ("staff", SERVICE_OK, "open", Action.GRANT_KEYS, "allowed"),
    ("staff", COORD, "closed", Action.GRANT_KEYS, "stafettlogg-closed"),
    ("staff", SERVICE_EXPIRED, "open", Action.GRANT_KEYS, "consent-missing"),
    ("staff", SERVICE_READER, "open", Action.GRANT_KEYS, "read-only"),
    # Erasure: a municipal administrator only, taking part or not; a whole log once closed.
    ("admin", NONE, "closed", Action.ERASE_STAFETTLOGG, "allowed"),
    ("admin", NONE, "open", Action.ERASE_STAFETTLOGG, "stafettlogg-open"),
    ("admin", NONE, "open", Action.ERASE_ENTRY, "allowed"),
    ("admin", NONE, "closed", Action.ERASE_ENTRY, "allowed"),
    ("admin", COORD, "closed", Action.ERASE_STAFETTLOGG, "allowed"),
    ("staff", COORD, "closed", Action.ERASE_STAFETTLOGG, "administrator-only"),
    ("staff", COORD, "open", Action.ERASE_ENTRY, "administrator-only"),
    ("guardian", GUARDIAN, "closed", Action.ERASE_STAFETTLOGG, "administrator-only"),
    ("staff", NONE, "closed", Action.ERASE_ENTRY, "administrator-only"),
    ("admin", NONE, "open", Action.READ_ENTRIES, "not-a-participant"),
]


@pytest.mark.parametrize(("role", "participation", "status", "action", "reason"), CASES)
def test_access_decision_table(
    role: str, participation: Participation, status: str | None, action: Action, reason: str
) -> None:
    decision = decide(_claims(role), action, participation=participation, status=status)

    assert decision.reason == reason
    assert decision.allowed is (reason == "allowed")


def test_without_the_consent_rule_a_listed_service_takes_part() -> None:
    off = Policy(consent_required=False)

    decision = decide(
        _claims("staff"), Action.READ_ENTRIES, participation=SERVICE_EXPIRED, policy=off
    )

    assert decision.allowed


def test_require_turns_a_denial_into_a_403_problem_of_the_same_reason() -> None:
    denied = decide(_claims("guardian"), Action.CREATE_STAFETTLOGG)

    with pytest.raises(ProblemError) as raised:
        require(denied)

    assert (raised.value.status_code, raised.value.slug) == (403, "staff-only")
    require(decide(_claims("staff"), Action.CREATE_STAFETTLOGG))  # allowed: no exception


def test_erasing_an_open_log_is_a_conflict_to_resolve_not_a_lack_of_permission() -> None:
    refused = decide(_claims("admin"), Action.ERASE_STAFETTLOGG, status="open")

    with pytest.raises(ProblemError) as raised:
        require(refused)

    assert (raised.value.status_code, raised.value.slug) == (409, "stafettlogg-open")


# --- every role against every endpoint, over HTTP ------------------------------------------

ROLES = [
    "coordinator",
    "guardian",
    "youth",
    "service_ok",
    "service_expired",
    "service_withdrawn",
    "reader",
    "outsider_staff",
    "outsider_guardian",
    "administrator",  # last: on a closed log its erasure of the whole log ends the table
]
READS = {"list", "read", "entries", "participants", "consents", "level_changes"}
FAMILY = {"access_records", "access_head", "consent_scan"}
ENDPOINTS = [
    *sorted(READS),
    *sorted(FAMILY),
    "write_entry",
    "add_participant",
    "remove_participant",
    "give_consent",
    "paper_consent",
    "withdraw_consent",
    "paper_withdrawal",
    "change_level",
    "propose_handover",
    "accept_handover",
    "close",
    "grant_keys",
    "erase_entry",
    "erase_stafettlogg",  # last: when allowed, the log is gone
]
_ERASURES = {"erase_entry", "erase_stafettlogg"}
_FAMILY_WRITES = {"write_entry", "give_consent", "withdraw_consent", "close", "grant_keys"}
ALLOWED_WHEN_OPEN: dict[str, set[str]] = {
    "coordinator": READS
    | FAMILY
    | set(ENDPOINTS) - {"give_consent", "withdraw_consent", "accept_handover"} - _ERASURES,
    "guardian": READS | FAMILY | _FAMILY_WRITES,
    "youth": READS | FAMILY | _FAMILY_WRITES,
    "service_ok": READS | {"write_entry", "grant_keys"},
    "service_expired": set(),
    "service_withdrawn": set(),
    "reader": set(READS),
    "outsider_staff": set(),
    "outsider_guardian": set(),
    "administrator": {"erase_entry"},
}
ALLOWED_WHEN_CLOSED = {
    role: allowed & (READS | FAMILY) for role, allowed in ALLOWED_WHEN_OPEN.items()
} | {"administrator": _ERASURES}


class _AdminMinter(TokenMinter):
    """Mints tokens whose `admin` claim is true for the subjects in `admins`."""

    def __init__(self) -> None:
        super().__init__()
        self.admins: set[str] = set()

    def claims(self, actor: Actor, **overrides: Any) -> dict[str, Any]:
        if actor.subject in self.admins:
            overrides.setdefault("admin", True)
        return super().claims(actor, **overrides)


@pytest.fixture
def minter() -> TokenMinter:
    return _AdminMinter()


@dataclass
class World:
    api: LoggApi
    log_id: str
    key: bytes
    actors: dict[str, Actor]


def _build_world(api: LoggApi, *, closed: bool) -> World:
    coordinator = Actor.staff()
    actors = {
        "coordinator": coordinator,
        "guardian": Actor.guardian(),
        "youth": Actor.guardian(),
        "service_ok": Actor.staff(),
        "service_expired": Actor.staff(),
        "service_withdrawn": Actor.staff(),
        "reader": Actor.staff(),
        "outsider_staff": Actor.staff(),
        "outsider_guardian": Actor.guardian(),
        "administrator": Actor.staff(),
    }
    assert isinstance(api.minter, _AdminMinter)
    api.minter.admins.add(actors["administrator"].subject)
    log_id, key = api.create(
        coordinator,
        [
            (actors["guardian"], "person", "writer"),
            (actors["service_ok"], "service", "writer"),
            (actors["service_expired"], "service", "writer"),
            (actors["service_withdrawn"], "service", "writer"),
            (actors["reader"], "service", "reader"),
        ],
    )
    youth = participant_body(log_id, key, actors["youth"], role="writer")
    youth_body = type(youth)(
        participant=type(youth.participant)(
            kind="person", principal_id=actors["youth"].subject, role="writer", youth=True
        ),
        key_grants=youth.key_grants,
    )
    assert (
        api.post(f"/stafettlogger/{log_id}/participants", youth_body, coordinator).status_code
        == 201
    )
    now = datetime.now(UTC)
    for name in ("service_ok", "reader", "service_withdrawn"):
        service = actors[name].service
        assert service is not None
        consent_id = api.consent(log_id, coordinator, key, service)
        if name == "service_withdrawn":
            withdrawn = api.post(
                f"/stafettlogger/{log_id}/consents/{consent_id}/withdraw",
                WithdrawalRequest(method="portal"),
                actors["guardian"],
            )
            assert withdrawn.status_code == 200, withdrawn.text
    expired_service = actors["service_expired"].service
    assert expired_service is not None
    api.consent(
        log_id,
        coordinator,
        key,
        expired_service,
        valid_from=now - timedelta(days=30),
        valid_until=now - timedelta(seconds=1),
    )
    if closed:  # two services have left: the next key epoch first (services.logg.epochs)
        epoch, key = api.rotate(log_id, coordinator, list(actors.values()))
        note = seal(coordinator, log_id, key, entry_type="closing_note", epoch=epoch)
        response = api.post(
            f"/stafettlogger/{log_id}/close", ClosingRequest(closing_note=note), coordinator
        )
        assert response.status_code == 200, response.text
    return World(api, log_id, key, actors)


def _attempt(world: World, role: str, endpoint: str) -> bool:
    """Run the endpoint as the role; True when the request was allowed. Writes are shaped so
    that an allowed one changes nothing that other rows of the table depend on."""
    api, log_id, key = world.api, world.log_id, world.key
    actor = world.actors[role]
    base = f"/stafettlogger/{log_id}"
    response: Any
    body: msgspec.Struct
    if endpoint == "list":
        listed = api.get("/stafettlogger", actor, {"limit": 100})
        return log_id in [item["id"] for item in listed.json()["items"]]
    gets = {
        "read": base,
        "entries": f"{base}/entries",
        "participants": f"{base}/participants",
        "consents": f"{base}/consents",
        "level_changes": f"{base}/level-changes",
        "access_records": f"{base}/access-records",
        "access_head": f"{base}/access-records/head",
        "consent_scan": f"{base}/consents/{new_id('none')}/scan",
    }
    if endpoint in gets:
        response = api.get(gets[endpoint], actor)
    elif endpoint == "write_entry":
        response = api.post(f"{base}/entries", entry_body(actor, log_id, key), actor)
    elif endpoint == "add_participant":
        body = participant_body(log_id, key, Actor.guardian(), role="reader")
        response = api.post(f"{base}/participants", body, actor)
    elif endpoint == "remove_participant":
        response = api.client.delete(
            f"{base}/participants/person/{new_id('nobody')}", headers=api.minter.headers(actor)
        )
    elif endpoint == "give_consent":
        response = api.post(f"{base}/consents", consent_body(new_id("svc")), actor)
    elif endpoint == "paper_consent":
        body = consent_body(new_id("svc"), paper_by=(actor, log_id, key))
        response = api.post(f"{base}/consents", body, actor)
    elif endpoint in {"withdraw_consent", "paper_withdrawal"}:
        scan = None
        if endpoint == "paper_withdrawal":
            scan = seal(actor, log_id, key, entry_type="consent_scan")
        body = WithdrawalRequest(method="paper" if scan is not None else "portal", scan=scan)
        response = api.post(f"{base}/consents/{new_id('none')}/withdraw", body, actor)
    elif endpoint == "change_level":
        reason = seal(actor, log_id, key, entry_type="level_change")
        level = api.get(base, world.actors["coordinator"]).json()["level"]
        body = LevelChangeRequest(level=(level + 1) % 4, reason=reason)
        response = api.post(f"{base}/level", body, actor)
    elif endpoint == "propose_handover":
        body = NewHandover(id=new_id("handover"), to_subject=new_id("nobody"))
        response = api.post(f"{base}/handover", body, actor)
    elif endpoint == "accept_handover":
        response = api.post(
            f"{base}/handover/accept", HandoverAcceptance(handover_id=new_id("h")), actor
        )
    elif endpoint == "close":
        response = api.post(f"{base}/close", ClosingRequest(closing_note_id=new_id("no")), actor)
    elif endpoint == "grant_keys":  # for someone who takes no part: refused after the decision
        nobody = Actor.guardian()
        grant = wrap_grant(log_id, key, nobody)
        body = NewKeyGrants(
            recipient_kind="person", recipient_id=nobody.subject, key_grants=[grant]
        )
        response = api.post(f"{base}/key-grants", body, actor)
    elif endpoint == "erase_entry":  # an unknown entry: 404 once allowed
        body = ErasureRequest(reason="Feilført i feil stafettlogg, sak 2026/3")
        response = api.post(f"{base}/entries/{new_id('none')}/erasure", body, actor)
    elif endpoint == "erase_stafettlogg":
        body = ErasureRequest(reason="Oppbevaringstiden er ute, sak 2026/4")
        response = api.post(f"{base}/erasure", body, actor)
        if response.status_code == 409:  # an open log: not now, for anyone
            assert response.json()["type"].endswith("stafettlogg-open")
            return False
    else:  # pragma: no cover - the table names only these
        raise AssertionError(endpoint)
    assert response.status_code < 500, response.text
    if response.status_code == 403:
        assert response.headers["content-type"].startswith("application/problem+json")
        return False
    return True


@pytest.mark.parametrize("state", ["open", "closed"])
def test_every_role_against_every_endpoint(api: LoggApi, state: str) -> None:
    world = _build_world(api, closed=state == "closed")
    expected = ALLOWED_WHEN_OPEN if state == "open" else ALLOWED_WHEN_CLOSED

    actual = {
        role: {endpoint for endpoint in ENDPOINTS if _attempt(world, role, endpoint)}
        for role in ROLES
    }

    assert actual == expected


def test_expired_and_withdrawn_consent_say_why(api: LoggApi) -> None:
    world = _build_world(api, closed=False)

    for role in ("service_expired", "service_withdrawn"):
        response = api.get(f"/stafettlogger/{world.log_id}/entries", world.actors[role])
        assert response.status_code == 403
        assert response.json()["type"] == "urn:stafettlogg:problem:consent-missing"
    detail = api.get(f"/stafettlogger/{world.log_id}", world.actors["service_expired"]).json()
    assert "expired" in detail["detail"]
