"""Who may do what in a stafettlogg: every access decision of logg is made here, and only here.

`decide` is a pure function of the verified claims, the caller's participation in the log, the
log's status and the action, so that the rules can be read in one screen and tested as a table.
Consent (a later issue) will enter as one more input to `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.problems import ProblemError
from shared.tokens import ServiceClaims

__all__ = [
    "NO_PARTICIPATION",
    "Action",
    "Decision",
    "Participation",
    "decide",
    "require",
]


class Action(StrEnum):
    CREATE_STAFETTLOGG = "create-stafettlogg"
    READ_STAFETTLOGG = "read-stafettlogg"
    READ_ENTRIES = "read-entries"
    ADD_PARTICIPANT = "add-participant"
    WRITE_ENTRY = "write-entry"


_WRITERS = frozenset({"coordinator", "writer"})


@dataclass(frozen=True, slots=True)
class Participation:
    """The roles the caller holds in one log: as a person (claims.sub) and through their service
    unit (claims.service). Empty when the caller takes no part in the log."""

    roles: frozenset[str]

    @property
    def participates(self) -> bool:
        return bool(self.roles)


NO_PARTICIPATION = Participation(frozenset())


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # a stable problem slug when denied; "allowed" otherwise
    detail: str = ""


_ALLOW = Decision(allowed=True, reason="allowed")


def decide(
    claims: ServiceClaims,
    action: Action,
    *,
    participation: Participation = NO_PARTICIPATION,
    status: str | None = None,
) -> Decision:
    """Decide whether the caller may perform `action`.

    Guarantees: an action on an existing log is allowed only to a participant of that log (as a
    person, or a staff member whose service unit participates); adding participants only to a
    coordinator; writing entries only to a coordinator or writer while the log is open; creating a
    log only to staff. It trusts `claims` to be verified and `participation` to come from the
    database for exactly this log and caller; it does not check consent yet.
    """
    if action is Action.CREATE_STAFETTLOGG:
        if claims.role != "staff":
            return Decision(False, "staff-only", "Only staff of a service unit may create a log")
        return _ALLOW
    if not participation.participates:
        return Decision(False, "not-a-participant", "You do not take part in this stafettlogg")
    if action in (Action.READ_STAFETTLOGG, Action.READ_ENTRIES):
        return _ALLOW
    if action is Action.ADD_PARTICIPANT:
        if "coordinator" not in participation.roles:
            return Decision(False, "coordinator-only", "Only the coordinator may add participants")
        return _ALLOW
    if action is Action.WRITE_ENTRY:
        if not participation.roles & _WRITERS:
            return Decision(
                False, "read-only", "Your role in this stafettlogg does not allow writing"
            )
        if status != "open":
            return Decision(False, "stafettlogg-closed", "This stafettlogg is closed")
        return _ALLOW
    return Decision(False, "forbidden", "Unknown action")  # pragma: no cover - exhaustive above


def require(decision: Decision) -> None:
    """Raise a 403 problem (with the decision's reason as its type) unless the decision allows."""
    if not decision.allowed:
        raise ProblemError(403, decision.reason, "You may not do this", decision.detail)
