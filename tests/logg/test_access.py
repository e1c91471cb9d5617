"""The access rules, as a table: (caller, participation, status, action) -> allowed or why not."""

from __future__ import annotations

import pytest

from services.logg.access import Action, Participation, decide, require
from shared.problems import ProblemError
from shared.tokens import ServiceClaims


def _claims(role: str) -> ServiceClaims:
    return ServiceClaims(
        iss="auth", sub="person-1", aud="stafett-logg", role=role, acr="high",  # type: ignore[arg-type]
        sign_key="k", jti="j", iat=0, nbf=0, exp=0,
        service="school" if role == "staff" else None,
    )  # fmt: skip


NONE = frozenset[str]()
CASES = [
    # role, roles in the log, status, action, expected reason
    ("staff", NONE, None, Action.CREATE_STAFETTLOGG, "allowed"),
    ("guardian", NONE, None, Action.CREATE_STAFETTLOGG, "staff-only"),
    ("staff", NONE, "open", Action.READ_STAFETTLOGG, "not-a-participant"),
    ("staff", NONE, "open", Action.READ_ENTRIES, "not-a-participant"),
    ("staff", NONE, "open", Action.WRITE_ENTRY, "not-a-participant"),
    ("staff", NONE, "open", Action.ADD_PARTICIPANT, "not-a-participant"),
    ("guardian", {"reader"}, "open", Action.READ_STAFETTLOGG, "allowed"),
    ("guardian", {"reader"}, "closed", Action.READ_ENTRIES, "allowed"),
    ("guardian", {"reader"}, "open", Action.WRITE_ENTRY, "read-only"),
    ("guardian", {"writer"}, "open", Action.WRITE_ENTRY, "allowed"),
    ("guardian", {"writer"}, "closed", Action.WRITE_ENTRY, "stafettlogg-closed"),
    ("guardian", {"writer"}, "open", Action.ADD_PARTICIPANT, "coordinator-only"),
    ("staff", {"coordinator"}, "open", Action.WRITE_ENTRY, "allowed"),
    ("staff", {"coordinator"}, "open", Action.ADD_PARTICIPANT, "allowed"),
    ("staff", {"coordinator"}, "closed", Action.WRITE_ENTRY, "stafettlogg-closed"),
    ("staff", {"reader", "writer"}, "open", Action.WRITE_ENTRY, "allowed"),  # person + service
]


@pytest.mark.parametrize(("role", "roles", "status", "action", "reason"), CASES)
def test_access_decision_table(
    role: str, roles: set[str], status: str | None, action: Action, reason: str
) -> None:
    decision = decide(
        _claims(role), action, participation=Participation(frozenset(roles)), status=status
    )

    assert decision.reason == reason
    assert decision.allowed is (reason == "allowed")


def test_require_turns_a_denial_into_a_403_problem_of_the_same_reason() -> None:
    denied = decide(_claims("guardian"), Action.CREATE_STAFETTLOGG)

    with pytest.raises(ProblemError) as raised:
        require(denied)

    assert (raised.value.status_code, raised.value.slug) == (403, "staff-only")
    require(decide(_claims("staff"), Action.CREATE_STAFETTLOGG))  # allowed: no exception
