"""Who may do what in a stafettlogg: every access decision of logg is made here, and only here.

`decide` is a pure function of the verified claims, the caller's participation in the log (their
roles as a person and through their service unit, that service's consent, whether a handover is
proposed to them), the log's status and the action, so that the rules can be read in one screen
and tested as a table (tests/logg/test_access.py).

The rules, in short:

- Reading (the log, entries, participants, consents, level history) needs *effective*
  participation. A guardian or youth takes part as a person. A staff member takes part as a person
  or through their service unit, but — unless they coordinate the log — only while that service
  holds a consent that is given, not withdrawn, and current (decided now, from `valid_until`):
  consent is given to a service, and its staff act for it.
- The access log and consent scans: the coordinator and the guardians (or youth) only.
- Every write is refused on a closed log ("stafettlogg-closed"), then: entries by coordinator and
  writers; participants, level, handover proposals and paper consent by the coordinator; consent
  in the portal by a guardian or youth; accepting a handover by the staff person it is proposed
  to; closing by the coordinator or a guardian; starting the next key epoch by the coordinator,
  writers and guardians.
- While a participant has left and the next key epoch has not begun, entries (a level change's
  reason and a closing note too) are refused with 409 "epoch-rotation-required".
- Wrapping the log's keys for a participant who holds none (a service whose consent was given
  again, services.logg.epochs.grant_keys): those who may start an epoch, on an open log.
- Erasure (services.logg.erasure) is not a participant's act: only a municipal administrator
  (`claims.admin`, staff), who need not take part in the log. A whole log only once it is
  closed (409 "stafettlogg-open": its closing made the archive copy); one entry in any state.
- The notification feed (services.logg.feed) is not a participant's act either: only auth's
  notifier, with a token of its own audience (`NOTIFIER_AUDIENCE`) and subject, may read it, and
  such a token may do nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.problems import ProblemError
from shared.tokens import NOTIFIER_AUDIENCE, NOTIFIER_SUBJECT, ServiceClaims

__all__ = [
    "CONSENT_REQUIRED",
    "NOTIFIER_AUDIENCE",
    "NOTIFIER_SUBJECT",
    "NO_PARTICIPATION",
    "Action",
    "ConsentState",
    "Decision",
    "Participation",
    "Policy",
    "decide",
    "effective_roles",
    "require",
]


class Action(StrEnum):
    CREATE_STAFETTLOGG = "create-stafettlogg"
    READ_STAFETTLOGG = "read-stafettlogg"
    READ_ENTRIES = "read-entries"
    READ_DUE_MEASURES = "read-due-measures"  # a log's measures in GET /tiltak/forfall
    WRITE_ENTRY = "write-entry"
    READ_PARTICIPANTS = "read-participants"
    ADD_PARTICIPANT = "add-participant"
    REMOVE_PARTICIPANT = "remove-participant"
    READ_CONSENTS = "read-consents"
    READ_CONSENT_SCAN = "read-consent-scan"
    GIVE_CONSENT = "give-consent"  # in the portal, by a guardian or youth; a refusal too
    RECORD_PAPER_CONSENT = "record-paper-consent"  # by the coordinator, with a sealed scan
    WITHDRAW_CONSENT = "withdraw-consent"  # in the portal, by a guardian or youth
    RECORD_PAPER_WITHDRAWAL = "record-paper-withdrawal"  # by the coordinator
    CHANGE_LEVEL = "change-level"
    READ_LEVEL_CHANGES = "read-level-changes"
    PROPOSE_HANDOVER = "propose-handover"
    ACCEPT_HANDOVER = "accept-handover"
    CLOSE = "close"
    READ_ACCESS_LOG = "read-access-log"
    ROTATE_EPOCH = "rotate-epoch"  # start the next key epoch (services.logg.epochs)
    GRANT_KEYS = "grant-keys"  # wrap epoch keys for a participant holding none (consent again)
    ERASE_STAFETTLOGG = "erase-stafettlogg"  # crypto-shred a closed log (administrator)
    ERASE_ENTRY = "erase-entry"  # crypto-shred one entry (administrator)
    READ_NOTIFICATION_FEED = "read-notification-feed"  # auth's notifier only (services.logg.feed)


class ConsentState(StrEnum):
    """The caller's service unit's consent in one log, as of now."""

    VALID = "valid"
    NONE = "none"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"


_READS = frozenset(
    {
        Action.READ_STAFETTLOGG,
        Action.READ_ENTRIES,
        Action.READ_DUE_MEASURES,
        Action.READ_PARTICIPANTS,
        Action.READ_CONSENTS,
        Action.READ_LEVEL_CHANGES,
    }
)
_FAMILY_READS = frozenset({Action.READ_ACCESS_LOG, Action.READ_CONSENT_SCAN})
_COORDINATOR_WRITES = frozenset(
    {
        Action.ADD_PARTICIPANT,
        Action.REMOVE_PARTICIPANT,
        Action.RECORD_PAPER_CONSENT,
        Action.RECORD_PAPER_WITHDRAWAL,
        Action.CHANGE_LEVEL,
        Action.PROPOSE_HANDOVER,
    }
)
_GUARDIAN_WRITES = frozenset({Action.GIVE_CONSENT, Action.WITHDRAW_CONSENT})
_WRITERS = frozenset({"coordinator", "writer"})
# Writes that store content sealed under the current epoch key: refused while the log must start
# a new epoch (a participant left), so that nothing new is sealed under a key the leaver holds.
_SEALING_WRITES = frozenset({Action.WRITE_ENTRY, Action.CHANGE_LEVEL, Action.CLOSE})
_ERASURES = frozenset({Action.ERASE_STAFETTLOGG, Action.ERASE_ENTRY})
# Refusals that are a conflict to resolve (409), not a lack of permission (403).
_CONFLICTS = frozenset({"epoch-rotation-required", "stafettlogg-open"})
_CONSENT_DETAIL = {
    ConsentState.NONE: "Your service unit has no consent in this stafettlogg",
    ConsentState.NOT_YET_VALID: "Your service unit's consent is not valid yet",
    ConsentState.EXPIRED: "Your service unit's consent has expired",
    ConsentState.WITHDRAWN: "Your service unit's consent has been withdrawn",
    ConsentState.REFUSED: "Consent for your service unit has been refused",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """Deployment-wide switches of the rules. `consent_required=False` exists only so that a
    local installation whose portal cannot yet record consent keeps working; production refuses
    it (services.logg.settings)."""

    consent_required: bool = True


@dataclass(frozen=True, slots=True)
class Participation:
    """What the database says about the caller in one log: roles held as a person (claims.sub)
    and through their service unit (claims.service), that service's consent, and whether a
    handover is proposed to them. All empty when the caller takes no part in the log."""

    person_roles: frozenset[str] = frozenset()
    service_roles: frozenset[str] = frozenset()
    consent: ConsentState = ConsentState.NONE
    handover_candidate: bool = False

    @property
    def listed(self) -> bool:
        """Listed as a participant at all, whether or not consent lets them in now."""
        return bool(self.person_roles or self.service_roles)


NO_PARTICIPATION = Participation()
CONSENT_REQUIRED = Policy()  # the default everywhere: deny by default


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # a stable problem slug when denied; "allowed" otherwise
    detail: str = ""


_ALLOW = Decision(allowed=True, reason="allowed")
_ROTATE_FIRST = Decision(
    False,
    "epoch-rotation-required",
    "A participant has left: start the next key epoch (POST .../epochs), then write again",
)


def effective_roles(
    claims: ServiceClaims, participation: Participation, policy: Policy = CONSENT_REQUIRED
) -> frozenset[str]:
    """The roles that count now: a staff member's roles count only while they coordinate the log
    or their service unit holds valid consent."""
    person, service = participation.person_roles, participation.service_roles
    if claims.role != "staff":
        return person
    if "coordinator" in person:
        return person | (service if _consented(participation, policy) else frozenset())
    if not _consented(participation, policy):
        return frozenset()
    return person | service


def _consented(participation: Participation, policy: Policy) -> bool:
    return not policy.consent_required or participation.consent is ConsentState.VALID


def decide(
    claims: ServiceClaims,
    action: Action,
    *,
    participation: Participation = NO_PARTICIPATION,
    status: str | None = None,
    policy: Policy = CONSENT_REQUIRED,
    rotation_required: bool = False,
) -> Decision:
    """Decide whether the caller may perform `action` (deny by default).

    Guarantees: nothing on an existing log is allowed to anyone without effective participation
    (see `effective_roles`); no write is allowed on a log that is not open; each write is allowed
    only to the roles the module docstring names; no entry is written while
    `rotation_required` (a participant left and the next key epoch has not begun). It trusts
    `claims` to be verified and `participation` to come from the database for exactly this log,
    this caller and this moment.
    """
    if action is Action.READ_NOTIFICATION_FEED or claims.aud == NOTIFIER_AUDIENCE:
        return _decide_notifier(claims, action)
    if action is Action.CREATE_STAFETTLOGG:
        if claims.role != "staff":
            return Decision(False, "staff-only", "Only staff of a service unit may create a log")
        return _ALLOW
    if action in _ERASURES:
        return _decide_erasure(claims, action, status)
    roles = effective_roles(claims, participation, policy)
    if not roles:
        if participation.listed:
            return Decision(False, "consent-missing", _CONSENT_DETAIL[participation.consent])
        return Decision(False, "not-a-participant", "You do not take part in this stafettlogg")
    coordinator = "coordinator" in roles
    family = claims.role == "guardian" and bool(participation.person_roles)
    if action in _READS:
        return _ALLOW
    if action in _FAMILY_READS:
        if coordinator or family:
            return _ALLOW
        return Decision(
            False,
            "family-or-coordinator-only",
            "Only the guardians and the coordinator may see this",
        )
    if status != "open":
        return Decision(False, "stafettlogg-closed", "This stafettlogg is closed; it is read-only")
    if action in (Action.ROTATE_EPOCH, Action.GRANT_KEYS):
        if roles & _WRITERS or family:
            return _ALLOW
        return Decision(False, "read-only", "Your role in this stafettlogg does not allow writing")
    allow = _ROTATE_FIRST if rotation_required and action in _SEALING_WRITES else _ALLOW
    if action is Action.WRITE_ENTRY:
        if roles & _WRITERS:
            return allow
        return Decision(False, "read-only", "Your role in this stafettlogg does not allow writing")
    if action in _COORDINATOR_WRITES:
        if coordinator:
            return allow
        return Decision(False, "coordinator-only", "Only the coordinator may do this")
    if action in _GUARDIAN_WRITES:
        if family:
            return _ALLOW
        return Decision(
            False,
            "guardian-only",
            "Only a guardian, or the young person, gives or withdraws consent",
        )
    if action is Action.ACCEPT_HANDOVER:
        if participation.handover_candidate and claims.role == "staff":
            return _ALLOW
        return Decision(False, "not-handover-candidate", "No handover is proposed to you")
    if action is Action.CLOSE:
        if coordinator or family:
            return allow
        return Decision(
            False, "coordinator-or-guardian-only", "Only the coordinator or a guardian may close"
        )
    return Decision(False, "forbidden", "Unknown action")  # pragma: no cover - exhaustive above


def _decide_erasure(claims: ServiceClaims, action: Action, status: str | None) -> Decision:
    """Erasure destroys what the participants wrote, so it is the municipality's decision, made
    by its administrator, never a participant's; participation plays no part. A whole log must
    be closed first: closing is when the archive copy is made (docs/security.md, Erasure)."""
    if not (claims.admin and claims.role == "staff"):
        return Decision(
            False, "administrator-only", "Only a municipal administrator may erase a log or entry"
        )
    if action is Action.ERASE_STAFETTLOGG and status != "closed":
        return Decision(
            False, "stafettlogg-open", "Close the stafettlogg before it is erased (read-only first)"
        )
    return _ALLOW


def _decide_notifier(claims: ServiceClaims, action: Action) -> Decision:
    """The feed of new entries and due measures (content-free: ids, authors, dates and the
    participants) is for auth's notifier alone; the notifier's token is for that feed alone."""
    notifier = (
        claims.aud == NOTIFIER_AUDIENCE
        and claims.sub == NOTIFIER_SUBJECT
        and claims.service is None
        and not claims.admin
    )
    if notifier and action is Action.READ_NOTIFICATION_FEED:
        return _ALLOW
    return Decision(False, "notifier-only", "Only auth's notifier reads the notification feed")


def require(decision: Decision) -> None:
    """Raise a problem (with the decision's reason as its type) unless the decision allows: 409
    for a conflict the caller can resolve (`epoch-rotation-required`), else 403."""
    if not decision.allowed:
        status = 409 if decision.reason in _CONFLICTS else 403
        raise ProblemError(status, decision.reason, "You may not do this", decision.detail)
