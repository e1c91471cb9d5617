"""What a person does with stafettlogger in the portal: list, create, read, write, invite.

Plaintext lives only in the objects this module returns for one request's page; everything
sent to logg is sealed first (see `services.portal.sealing`).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.portal.auth_client import (
    AUDIENCE_LOGG,
    AuthClient,
    AuthRefusedError,
    Principal,
    PrincipalKind,
    ServiceUnit,
)
from services.portal.entry_bodies import EntryBody, body_for_text
from services.portal.entry_form import EntryDraft
from services.portal.epochs import EpochRotation
from services.portal.forms import EntryChoices
from services.portal.i18n import N_
from services.portal.lifecycle_panel import LifecyclePanel, build_panel, participant_key
from services.portal.logg_client import LoggClient, LoggError
from services.portal.meetings import (
    MEETING_RESPONSE,
    MeetingInvitation,
    meeting_invitations,
    viewer_keys,
)
from services.portal.norwegian import OSLO, ROLE_LABELS, format_date
from services.portal.sealing import (
    Description,
    OpenError,
    grant_epoch_key,
    open_description,
    open_entry,
    open_epoch_keys,
    seal_description,
    seal_entry,
    utc_timestamp,
)
from services.portal.timeline import (
    EntryLine,
    LogIndex,
    OpenedEntry,
    build_index,
    entry_line,
    unreadable_line,
)
from services.portal.viewer import Viewer
from services.portal.youth_panel import YOUTH_LABEL, YouthPanel, youth_panel
from shared.crypto.envelope import new_epoch_key
from shared.crypto.keys import PublicKeys
from shared.wire import (
    MAX_ENTRY_FILTER_IDS,
    MAX_PAGE,
    ConsentView,
    EntryView,
    NewEntry,
    NewKeyGrant,
    NewParticipant,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantKind,
    StafettloggView,
)

__all__ = [
    "ENTRIES_PER_PAGE",
    "EntryLine",
    "NoEpochKeyError",
    "ParticipantLine",
    "StafettloggPage",
    "StafettloggService",
    "is_cursor",
    "is_stafettlogg_id",
    "named_entries",
]

ENTRIES_PER_PAGE = 20
# What the entry form may point at: the newest of these types (one call, however long the log).
_LINKABLE_TYPES = ("goal", "measure", "meeting")
# The fields of an entry form that name another entry of the log.
_NAMED_ENTRY_FIELDS = ("goal_id", "measure_id", "meeting_id", "corrects")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CURSOR = re.compile(r"^[\x21-\x7e]{1,512}$")  # printable ASCII; httpx encodes it
UNKNOWN_NAME = N_("Ukjent")


def is_stafettlogg_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def is_cursor(value: str) -> bool:
    return bool(_CURSOR.fullmatch(value))


def named_entries(form: Mapping[str, object]) -> list[str]:
    """The entry ids a (posted or re-shown) entry form names: its goal, measure, meeting and the
    entry it corrects. `StafettloggService.page` reads these too, so older ones can be offered
    and checked."""
    named = (form.get(name) for name in _NAMED_ENTRY_FIELDS)
    return [value for value in named if isinstance(value, str) and is_stafettlogg_id(value)]


class NoEpochKeyError(Exception):
    """The viewer holds no key for the log's current epoch, so cannot write or invite."""


@dataclass(frozen=True, slots=True)
class ParticipantLine:
    kind: str
    principal_id: str
    name: str
    role: str
    role_label: str
    youth: bool = False  # the young person themself


def _as_body(entry_type: str, body: EntryBody | str) -> EntryBody:
    return body_for_text(entry_type, body) if isinstance(body, str) else body


@dataclass(slots=True)
class StafettloggPage:
    id: str
    description: Description | None
    birth_date_label: str
    participants: list[ParticipantLine]
    entries: list[EntryLine]
    next_cursor: str | None
    is_coordinator: bool
    can_write: bool
    index: LogIndex
    choices: EntryChoices
    lifecycle: LifecyclePanel
    addable_services: list[ServiceUnit] = field(default_factory=list)
    is_open: bool = True
    consents: list[ConsentView] = field(default_factory=list)  # newest first
    meetings: dict[str, MeetingInvitation] = field(default_factory=dict)  # by meeting entry id
    youth: YouthPanel | None = None  # for the coordinator of an open log (services.portal.youth)


class StafettloggService:
    def __init__(self, auth: AuthClient, logg: LoggClient) -> None:
        self._auth = auth
        self._logg = logg
        self.epochs = EpochRotation(auth, logg)  # the next key epoch when someone has left

    async def _logg_token(self, viewer: Viewer) -> str:
        return await self._auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)

    async def _principal(self, viewer: Viewer, kind: PrincipalKind, id_: str) -> Principal | None:
        if kind == "person" and id_ == viewer.subject:
            own = viewer.keys.public()
            return Principal("person", id_, viewer.name, own.hpke_public, own.sign_public)
        try:
            return await self._auth.principal(viewer.session_cookie, kind, id_)
        except AuthRefusedError:
            return None

    async def _principals(
        self, viewer: Viewer, wanted: set[tuple[PrincipalKind, str]]
    ) -> dict[tuple[PrincipalKind, str], Principal | None]:
        keys = sorted(wanted)
        found = await asyncio.gather(*(self._principal(viewer, kind, id_) for kind, id_ in keys))
        return dict(zip(keys, found, strict=True))

    def _epoch_keys(self, viewer: Viewer, view: StafettloggView) -> dict[int, bytes]:
        return open_epoch_keys(
            view,
            subject=viewer.subject,
            keys=viewer.keys,
            service_id=viewer.service_id,
            service_keys=viewer.service_keys,
        )

    def _open_description(
        self,
        view: StafettloggView,
        epoch_keys: dict[int, bytes],
        authors: dict[tuple[PrincipalKind, str], Principal | None],
    ) -> Description | None:
        author = authors.get(("person", view.sealed_description.header.author))
        if author is None:
            return None
        try:
            return open_description(view, epoch_keys, author.public_keys())
        except (OpenError, ValueError):
            return None

    async def create(self, viewer: Viewer, description: Description) -> str:
        """Create a log with its description sealed under a fresh epoch key, granted to the
        creator alone. Returns the new log's id."""
        stafettlogg_id = secrets.token_urlsafe(16)
        epoch_key = new_epoch_key()
        sealed = seal_description(
            stafettlogg_id,
            description,
            epoch_key=epoch_key,
            author=viewer.subject,
            author_keys=viewer.keys,
            created_at=utc_timestamp(),
        )
        grant = grant_epoch_key(
            stafettlogg_id,
            1,
            epoch_key,
            recipient_kind="person",
            recipient_id=viewer.subject,
            recipient_public=viewer.keys.public(),
        )
        token = await self._logg_token(viewer)
        await self._logg.create_stafettlogg(
            token, NewStafettlogg(id=stafettlogg_id, sealed_description=sealed, key_grants=[grant])
        )
        return stafettlogg_id

    async def _newest(
        self,
        viewer: Viewer,
        stafettlogg_id: str,
        *,
        types: Sequence[str] = (),
        refers_to: Sequence[str] = (),
        ids: Sequence[str] = (),
    ) -> list[EntryView]:
        """The newest `MAX_PAGE` entries that fit the filters: one call."""
        page = await self._logg.list_entries(
            await self._logg_token(viewer),
            stafettlogg_id,
            limit=MAX_PAGE,
            types=types,
            refers_to=refers_to,
            ids=ids,
        )
        return page.items

    async def _by_id(
        self, viewer: Viewer, stafettlogg_id: str, ids: Sequence[str]
    ) -> list[EntryView]:
        """These entries, those the log holds: one call per `MAX_ENTRY_FILTER_IDS` ids."""
        found: list[EntryView] = []
        for start in range(0, len(ids), MAX_ENTRY_FILTER_IDS):
            chunk = ids[start : start + MAX_ENTRY_FILTER_IDS]
            found += await self._newest(viewer, stafettlogg_id, ids=chunk)
        return found

    def _open(
        self,
        view: StafettloggView,
        entry: EntryView,
        epoch_keys: dict[int, bytes],
        principals: dict[tuple[PrincipalKind, str], Principal | None],
    ) -> OpenedEntry | None:
        header = entry.sealed.header
        author = principals.get(("person", header.author))
        if author is None:
            return None
        try:
            body = open_entry(view.id, entry, epoch_keys, author.public_keys())
        except (OpenError, ValueError):
            return None
        return OpenedEntry(entry, header.type, header.author, author.name, header.created_at, body)

    async def page(
        self,
        viewer: Viewer,
        stafettlogg_id: str,
        *,
        cursor: str | None = None,
        named: Sequence[str] = (),
        types: Sequence[str] = (),
    ) -> StafettloggPage:
        """Everything the log's page shows, opened for the viewer. Entries that do not open
        are marked as such, never an error.

        A bounded number of calls to logg however long the log is: the page of entries, the
        entries they refer to and the level changes' reasons (by id), the newest `MAX_PAGE`
        entries that refer to the page's (corrections, evaluations, minutes), and the newest
        `MAX_PAGE` goals, measures and meetings for the entry form. `named`: entry ids a form
        names (`named_entries`), read too so that they can be offered and checked. `types`:
        show only entries of these types (the timeline's filter; logg reads their index range)."""
        # A token is good for one call (logg refuses a replay): one exchange per call.
        view = await self._logg.get_stafettlogg(await self._logg_token(viewer), stafettlogg_id)
        entry_page = await self._logg.list_entries(
            await self._logg_token(viewer),
            stafettlogg_id,
            limit=ENTRIES_PER_PAGE,
            cursor=cursor,
            types=types,
        )
        changes = await self._logg.list_level_changes(
            await self._logg_token(viewer), stafettlogg_id
        )
        consents = await self._logg.list_consents(await self._logg_token(viewer), stafettlogg_id)
        page_ids = [entry.id for entry in entry_page.items]
        referring = (
            await self._newest(viewer, stafettlogg_id, refers_to=page_ids) if page_ids else []
        )
        linkable = await self._newest(viewer, stafettlogg_id, types=_LINKABLE_TYPES)
        # Not minus `linkable`: whether this call is made depends on the page, not on the log.
        known = {entry.id for entry in [*entry_page.items, *referring]}
        wanted_ids = [entry.refers_to for entry in entry_page.items if entry.refers_to]
        wanted_ids += [*named, *(change.id for change in changes.items)]
        linked = await self._by_id(
            viewer, stafettlogg_id, [i for i in dict.fromkeys(wanted_ids) if i not in known]
        )
        # Each entry once; those referring to the page first, newest first, so that a page
        # entry's corrections are listed newest first.
        read = list({e.id: e for e in [*referring, *entry_page.items, *linked, *linkable]}.values())
        epoch_keys = self._epoch_keys(viewer, view)
        wanted: set[tuple[PrincipalKind, str]] = {("person", view.sealed_description.header.author)}
        wanted |= {(p.kind, p.principal_id) for p in view.participants}
        wanted |= {("person", e.sealed.header.author) for e in read}
        wanted |= {("person", change.changed_by) for change in changes.items}
        for subject in (view.closed_by, view.coordinator):
            if subject:
                wanted.add(("person", subject))
        if view.pending_handover is not None:
            wanted.add(("person", view.pending_handover.to_subject))
        principals = await self._principals(viewer, wanted)
        description = self._open_description(view, epoch_keys, principals)

        participants = []
        for participant in view.participants:
            principal = principals.get((participant.kind, participant.principal_id))
            participants.append(
                ParticipantLine(
                    kind=participant.kind,
                    principal_id=participant.principal_id,
                    name=principal.name if principal else UNKNOWN_NAME,
                    role=participant.role,
                    role_label=YOUTH_LABEL
                    if participant.youth
                    else ROLE_LABELS.get(participant.role, participant.role),
                    youth=participant.youth,
                )
            )

        opened = {entry.id: self._open(view, entry, epoch_keys, principals) for entry in read}
        index = build_index(
            [found for found in opened.values() if found is not None],
            viewer.subject,
            linkable=[*(e.id for e in linkable), *page_ids, *named],
            correctable=[*page_ids, *named],
        )
        today = datetime.now(OSLO).date()
        entries = []
        for entry in entry_page.items:
            found = opened[entry.id]
            entries.append(
                entry_line(found, index, viewer.subject, today)
                if found is not None
                else unreadable_line(entry)
            )

        is_coordinator = any(
            p.kind == "person" and p.principal_id == viewer.subject and p.role == "coordinator"
            for p in view.participants
        )
        can_write = view.status == "open" and any(
            p.role in {"coordinator", "writer"}
            and (
                (p.kind == "person" and p.principal_id == viewer.subject)
                or (p.kind == "service" and p.principal_id == viewer.service_id)
            )
            for p in view.participants
        )
        people = {participant_key(p.kind, p.principal_id): p.name for p in participants}
        result = StafettloggPage(
            id=view.id,
            description=description,
            birth_date_label=format_date(description.child_birth_date) if description else "",
            participants=participants,
            entries=entries,
            next_cursor=entry_page.next_cursor,
            is_coordinator=is_coordinator and view.status == "open",
            can_write=can_write and view.current_epoch in epoch_keys,
            index=index,
            choices=index.choices(people),
            lifecycle=build_panel(view, viewer, principals, changes.items, index),
            is_open=view.status == "open",
            consents=consents.items,
        )
        # The page's meetings, with the answers among the entries that refer to the page.
        result.meetings = meeting_invitations(
            index,
            page_ids,
            viewer_as=viewer_keys(viewer.subject, viewer.service_id),
            people=people,
            may_write=result.can_write,
            today=today,
        )
        if result.is_coordinator:
            present = {p.principal_id for p in view.participants if p.kind == "service"}
            try:
                services = await self._auth.services(viewer.session_cookie)
            except AuthRefusedError:
                services = []
            result.addable_services = [unit for unit in services if unit.id not in present]
            result.youth = await youth_panel(
                self._auth, viewer.session_cookie, description, view.participants, today
            )
        return result

    async def meeting(
        self, viewer: Viewer, stafettlogg_id: str, meeting_id: str
    ) -> MeetingInvitation | None:
        """One meeting's invitation and answers, opened for the viewer: three logg calls (the
        log, the meeting, its newest `MAX_PAGE` answers). None when the log holds no meeting of
        that id the viewer can open."""
        view = await self._logg.get_stafettlogg(await self._logg_token(viewer), stafettlogg_id)
        found = await self._newest(viewer, stafettlogg_id, ids=[meeting_id], types=("meeting",))
        if not found:
            return None
        answers = await self._newest(
            viewer, stafettlogg_id, refers_to=[meeting_id], types=(MEETING_RESPONSE,)
        )
        wanted: set[tuple[PrincipalKind, str]] = {
            (p.kind, p.principal_id) for p in view.participants
        }
        wanted |= {("person", entry.sealed.header.author) for entry in [*found, *answers]}
        principals = await self._principals(viewer, wanted)
        epoch_keys = self._epoch_keys(viewer, view)
        opened = [self._open(view, entry, epoch_keys, principals) for entry in [*found, *answers]]
        index = build_index([entry for entry in opened if entry is not None], viewer.subject)
        people = {
            participant_key(p.kind, p.principal_id): principal.name
            for p in view.participants
            if (principal := principals.get((p.kind, p.principal_id))) is not None
        }
        may_write = (
            view.status == "open"
            and view.current_epoch in epoch_keys
            and any(
                p.role in {"coordinator", "writer"}
                and (
                    (p.kind == "person" and p.principal_id == viewer.subject)
                    or (p.kind == "service" and p.principal_id == viewer.service_id)
                )
                for p in view.participants
            )
        )
        invitations = meeting_invitations(
            index,
            [meeting_id],
            viewer_as=viewer_keys(viewer.subject, viewer.service_id),
            people=people,
            may_write=may_write,
            today=datetime.now(OSLO).date(),
        )
        return invitations.get(meeting_id)

    async def entry_choices(
        self, viewer: Viewer, stafettlogg_id: str, *, named: Sequence[str] = ()
    ) -> EntryChoices:
        """What a new entry in this log may point at, for checking a posted form that names
        the entries `named` (`named_entries`)."""
        return (await self.page(viewer, stafettlogg_id, named=named)).choices

    @property
    def logg(self) -> LoggClient:
        return self._logg

    async def view(self, viewer: Viewer, stafettlogg_id: str) -> StafettloggView:
        """The log as logg shows it to the viewer (no entries, nothing opened)."""
        return await self._logg.get_stafettlogg(await self._logg_token(viewer), stafettlogg_id)

    async def logg_token(self, viewer: Viewer) -> str:
        """A fresh access token for logg (each is good for one call)."""
        return await self._logg_token(viewer)

    async def current_epoch_key(
        self, viewer: Viewer, stafettlogg_id: str
    ) -> tuple[StafettloggView, bytes]:
        """The log and the key of its current epoch; raises NoEpochKeyError without one."""
        view = await self._logg.get_stafettlogg(await self._logg_token(viewer), stafettlogg_id)
        epoch_key = self._epoch_keys(viewer, view).get(view.current_epoch)
        if epoch_key is None:
            raise NoEpochKeyError
        return view, epoch_key

    async def write_entry(
        self, viewer: Viewer, stafettlogg_id: str, entry_type: str, body: EntryBody | str
    ) -> str:
        """Seal `body` under the log's current epoch key, signed by the viewer, and store it.
        Returns the new entry's id."""
        return await self.write_draft(
            viewer, stafettlogg_id, EntryDraft(entry_type, _as_body(entry_type, body), None, None)
        )

    async def write_draft(self, viewer: Viewer, stafettlogg_id: str, draft: EntryDraft) -> str:
        """Seal a checked entry and store it, with its clear `refers_to`/`due_on` (docs/crypto.md)
        repeated outside the envelope. Returns the new entry's id. If a participant has left
        since the current epoch began, starts the next epoch first (services.portal.epochs)."""
        entry_id = secrets.token_urlsafe(16)

        async def attempt() -> None:  # seals under whatever epoch is current at each try
            view, epoch_key = await self.current_epoch_key(viewer, stafettlogg_id)
            sealed = seal_entry(
                view.id,
                entry_id,
                draft.entry_type,
                draft.body,
                epoch=view.current_epoch,
                epoch_key=epoch_key,
                author=viewer.subject,
                author_keys=viewer.keys,
                created_at=utc_timestamp(),
            )
            await self._logg.add_entry(
                await self._logg_token(viewer),
                view.id,
                NewEntry(sealed=sealed, refers_to=draft.refers_to, due_on=draft.due_on),
            )

        await self.epochs.write(viewer, stafettlogg_id, attempt)
        return entry_id

    async def _add_participant(
        self,
        viewer: Viewer,
        stafettlogg_id: str,
        kind: ParticipantKind,
        principal_id: str,
        public: PublicKeys,
        *,
        youth: bool = False,
    ) -> None:
        # A token is good for one call (logg refuses a replay): one exchange per call.
        view = await self._logg.get_stafettlogg(await self._logg_token(viewer), stafettlogg_id)
        epoch_keys = self._epoch_keys(viewer, view)
        grants: list[NewKeyGrant] = [
            grant_epoch_key(
                view.id,
                epoch,
                epoch_keys[epoch],
                recipient_kind=kind,
                recipient_id=principal_id,
                recipient_public=public,
            )
            for epoch in range(1, view.current_epoch + 1)
            if epoch in epoch_keys
        ]
        if view.current_epoch not in epoch_keys:
            raise NoEpochKeyError
        request = NewParticipantRequest(
            participant=NewParticipant(
                kind=kind, principal_id=principal_id, role="writer", youth=youth
            ),
            key_grants=grants,
        )
        try:
            await self._logg.add_participant(await self._logg_token(viewer), view.id, request)
        except LoggError as error:  # a service sees history only if its consent allows it
            if not (error.status == 400 and error.type.endswith("history-not-consented")):
                raise
            current = [g for g in grants if g.epoch == view.current_epoch]
            request = NewParticipantRequest(participant=request.participant, key_grants=current)
            await self._logg.add_participant(await self._logg_token(viewer), view.id, request)

    async def add_guardian(
        self, viewer: Viewer, stafettlogg_id: str, pid: str, *, youth: bool = False
    ) -> str:
        """Add a guardian, found by fødselsnummer in auth's directory, as a writer with every
        epoch key the viewer holds. Returns the guardian's name. Raises AuthRefusedError(400) for a
        fødselsnummer auth does not accept. With `youth`, the person is the young person
        themself: the caller has checked the age (services.portal.youth), logg records who
        declared it."""
        person = await self._auth.lookup_person(viewer.session_cookie, pid)
        await self._add_participant(
            viewer, stafettlogg_id, "person", person.id, person.public_keys(), youth=youth
        )
        return person.name

    async def add_service(self, viewer: Viewer, stafettlogg_id: str, service_id: str) -> str:
        """Add a service unit as a writer with every epoch key the viewer holds. Returns its
        name. Raises LookupError for a service the directory does not know."""
        services = await self._auth.services(viewer.session_cookie)
        unit = next((unit for unit in services if unit.id == service_id), None)
        if unit is None:
            raise LookupError(service_id)
        await self._add_participant(viewer, stafettlogg_id, "service", unit.id, unit.public_keys())
        return unit.name

    async def service_ids(self, viewer: Viewer) -> set[str]:
        return {unit.id for unit in await self._auth.services(viewer.session_cookie)}
