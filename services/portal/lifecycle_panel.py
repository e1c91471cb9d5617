"""What the «Stafettholder» section of a log's page shows: the status, the BTI level and its
history, a pending handover, and what the viewer may do about them."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.portal.auth_client import Principal, PrincipalKind
from services.portal.entry_bodies import LevelChangeBody
from services.portal.i18n import N_
from services.portal.norwegian import LEVEL_EXPLANATIONS, format_datetime
from services.portal.timeline import LogIndex
from services.portal.viewer import Viewer
from shared.wire import LevelChangeView, StafettloggView

__all__ = ["LevelChangeLine", "LifecyclePanel", "build_panel", "participant_key"]

UNKNOWN_NAME = N_("Ukjent")


@dataclass(frozen=True, slots=True)
class LevelChangeLine:
    from_level: int
    to_level: int
    changed_by: str
    time_label: str
    reason: str | None  # None: the sealed reason could not be read
    mismatch: bool  # the sealed levels differ from what logg says


@dataclass(slots=True)
class LifecyclePanel:
    closed: bool
    closed_label: str
    closed_by: str
    level: int
    level_explanation: str
    levels: dict[int, str]
    history: list[LevelChangeLine]
    coordinator_name: str
    is_coordinator: bool  # and the log is open
    can_close: bool
    handover_id: str | None = None
    handover_to_name: str | None = None
    viewer_is_candidate: bool = False
    handover_candidates: list[tuple[str, str]] = field(default_factory=list)
    removable: list[tuple[str, str]] = field(default_factory=list)  # (kind:id, name)


def participant_key(kind: str, principal_id: str) -> str:
    return f"{kind}:{principal_id}"


def _name(principals: dict[tuple[PrincipalKind, str], Principal | None], subject: str) -> str:
    principal = principals.get(("person", subject))
    return principal.name if principal is not None else UNKNOWN_NAME


def _history(
    changes: list[LevelChangeView],
    index: LogIndex,
    principals: dict[tuple[PrincipalKind, str], Principal | None],
) -> list[LevelChangeLine]:
    lines = []
    for change in changes:
        opened = index.by_id.get(change.id)
        body = opened.body if opened is not None else None
        reason = body.reason if isinstance(body, LevelChangeBody) else None
        mismatch = isinstance(body, LevelChangeBody) and (
            (body.from_level, body.to_level) != (change.from_level, change.to_level)
            or opened is None
            or opened.author != change.changed_by
        )
        lines.append(
            LevelChangeLine(
                from_level=change.from_level,
                to_level=change.to_level,
                changed_by=_name(principals, change.changed_by),
                time_label=format_datetime(change.changed_at),
                reason=reason,
                mismatch=mismatch,
            )
        )
    return lines


def build_panel(
    view: StafettloggView,
    viewer: Viewer,
    principals: dict[tuple[PrincipalKind, str], Principal | None],
    changes: list[LevelChangeView],
    index: LogIndex,
) -> LifecyclePanel:
    """The section for this viewer. What it offers, logg checks again on every request."""
    is_open = view.status == "open"
    own = [p for p in view.participants if p.kind == "person" and p.principal_id == viewer.subject]
    is_coordinator = is_open and any(p.role == "coordinator" for p in own)
    coordinator = view.coordinator or next(
        (p.principal_id for p in view.participants if p.role == "coordinator"), None
    )
    panel = LifecyclePanel(
        closed=not is_open,
        closed_label=format_datetime(view.closed_at) if view.closed_at else "",
        closed_by=_name(principals, view.closed_by) if view.closed_by else "",
        level=view.level,
        level_explanation=LEVEL_EXPLANATIONS.get(view.level, ""),
        levels=LEVEL_EXPLANATIONS,
        history=_history(changes, index, principals),
        coordinator_name=_name(principals, coordinator) if coordinator else UNKNOWN_NAME,
        is_coordinator=is_coordinator,
        can_close=is_open and (is_coordinator or (viewer.role == "guardian" and bool(own))),
    )
    pending = view.pending_handover
    if is_open and pending is not None and pending.status == "proposed":
        panel.handover_id = pending.id
        panel.handover_to_name = _name(principals, pending.to_subject)
        panel.viewer_is_candidate = viewer.is_staff and pending.to_subject == viewer.subject
    if is_coordinator:
        for participant in view.participants:
            if participant.kind == "person" and participant.principal_id == viewer.subject:
                continue
            principal = principals.get((participant.kind, participant.principal_id))
            name = principal.name if principal is not None else UNKNOWN_NAME
            key = participant_key(participant.kind, participant.principal_id)
            panel.removable.append((key, name))
            if participant.kind == "person" and not participant.youth:
                panel.handover_candidates.append((participant.principal_id, name))
    return panel
