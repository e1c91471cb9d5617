"""Consent in the portal: what a log's page says about each service unit's consent, and giving,
refusing and withdrawing it (in the portal by a guardian or the young person, on paper recorded
by the coordinator with the form's scan).

logg decides who may do what (services/logg/access.py); this module only asks it, and seals a
paper form's scan like an entry (type `consent_scan`, docs/crypto.md) before it leaves the portal.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from services.portal.auth_client import AUDIENCE_LOGG, AuthClient, AuthRefusedError
from services.portal.epochs import EpochRotation
from services.portal.i18n import N_
from services.portal.logg_client import LoggClient
from services.portal.norwegian import OSLO, format_date
from services.portal.sealing import open_epoch_keys, utc_timestamp
from services.portal.viewer import Viewer
from shared.crypto.envelope import EnvelopeHeader, SealedEnvelope, seal_envelope
from shared.crypto.keys import ParticipantKeys
from shared.wire import (
    CONSENT_SCAN_TYPE,
    ConsentScope,
    ConsentView,
    NewConsent,
    WithdrawalRequest,
)

if TYPE_CHECKING:
    from services.portal.stafettlogger import StafettloggPage

__all__ = [
    "CONSENT_SCOPE_LABELS",
    "ConsentGiver",
    "ConsentOverview",
    "ConsentService",
    "ConsentTargets",
    "MissingEpochKeyError",
    "ServiceConsent",
    "consent_overview",
    "default_valid_until",
    "last_valid_day",
    "new_consent_id",
    "seal_consent_scan",
    "valid_until_moment",
]

ConsentDecision = Literal["given", "refused"]
ConsentState = Literal["given", "not-yet-valid", "expired", "withdrawn", "refused", "none"]

CONSENT_SCOPE_LABELS: dict[str, str] = {
    "all": N_("Alt i stafettloggen"),
    "health": N_("Bare opplysninger om helse"),
    "school": N_("Bare opplysninger om barnehage og skole"),
    "welfare": N_("Bare opplysninger om familie og velferd"),
}
_SCOPES: dict[str, ConsentScope] = {
    "all": "all",
    "health": "health",
    "school": "school",
    "welfare": "welfare",
}


class MissingEpochKeyError(Exception):
    """The viewer holds no key for the log's current epoch, so cannot seal a scan."""


def new_consent_id() -> str:
    """A fresh client-chosen id: a form carries it, so a resent form records nothing twice."""
    return secrets.token_urlsafe(16)


def default_valid_until(today: date | None = None) -> date:
    """One year ahead, the usual length of a consent."""
    today = today or datetime.now(OSLO).date()
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def valid_until_moment(last_day: date) -> datetime:
    """A consent «til og med» `last_day` ends at the start of the next day in Norway (UTC)."""
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=OSLO).astimezone(UTC)


def last_valid_day(valid_until: datetime) -> date:
    """The last day (Norwegian time) a consent ending at `valid_until` covers."""
    return (valid_until.astimezone(OSLO) - timedelta(microseconds=1)).date()


@dataclass(frozen=True, slots=True)
class ServiceConsent:
    """One service unit in the log, and where its consent stands now."""

    service_id: str
    service_name: str
    state: ConsentState
    status_label: str
    consent_id: str | None  # the consent that can be withdrawn now
    explanation: str  # what giving consent means, in plain words

    @property
    def valid_now(self) -> bool:
        return self.state == "given"


@dataclass(frozen=True, slots=True)
class ConsentGiver:
    subject: str
    name: str


@dataclass(frozen=True, slots=True)
class ConsentOverview:
    services: list[ServiceConsent]
    givers: list[ConsentGiver]  # who may have signed a paper form: the log's guardians
    can_give: bool  # a guardian (or the youth) of this open log
    can_record_paper: bool  # the coordinator of this open log
    can_see_access_log: bool
    default_valid_until: str  # YYYY-MM-DD, for the date fields
    scope_labels: dict[str, str]

    @property
    def awaiting(self) -> frozenset[str]:
        """The service units whose staff cannot read the log yet (or any more)."""
        return frozenset(line.service_id for line in self.services if not line.valid_now)

    @property
    def withdrawable(self) -> list[ServiceConsent]:
        return [line for line in self.services if line.consent_id is not None]


def _how(consent: ConsentView) -> str:
    return N_(" (på papir)") if consent.method == "paper" else ""


def _history(consent: ConsentView) -> str:
    """Whether the service may read what was written before its consent, in plain words."""
    if consent.history:
        return N_("Tjenesten kan også lese det som ble skrevet før samtykket.")
    return N_("Tjenesten ser bare det som skrives etter samtykket.")


def _service_consent(
    service_id: str, name: str, consents: list[ConsentView], today: date, now: datetime
) -> ServiceConsent:
    explanation = N_(
        "Når du gir samtykke, kan de ansatte i %(name)s lese og skrive i stafettloggen "
        "til og med %(day)s, eller den datoen du velger. "
        "Du kan trekke samtykket tilbake når du vil.",
        name=name,
        day=format_date(default_valid_until(today)),
    )
    valid = [c for c in consents if c.valid_now]
    if valid:
        current = max(valid, key=lambda c: c.valid_until)
        last_day = format_date(last_valid_day(current.valid_until))
        return ServiceConsent(
            service_id,
            name,
            "given",
            N_(
                "Samtykke gitt til og med %(day)s%(how)s. %(history)s",
                day=last_day,
                how=_how(current),
                history=_history(current),
            ),
            current.id,
            explanation,
        )
    if not consents:
        return ServiceConsent(
            service_id, name, "none", N_("Samtykke er ikke gitt ennå"), None, explanation
        )
    newest = consents[0]
    state: ConsentState
    if newest.status == "withdrawn":
        moment = newest.withdrawn_at or newest.recorded_at
        state, label = "withdrawn", N_("Samtykket ble trukket tilbake %(day)s", day=_day(moment))
    elif newest.status == "refused":
        state, label = (
            "refused",
            N_("Samtykke avslått %(day)s%(how)s", day=_day(newest.recorded_at), how=_how(newest)),
        )
    elif now < newest.valid_from:
        state, label = "not-yet-valid", N_("Samtykke gitt fra %(day)s", day=_day(newest.valid_from))
    else:
        ended = format_date(last_valid_day(newest.valid_until))
        state, label = "expired", N_("Samtykket gjaldt til og med %(day)s", day=ended)
    return ServiceConsent(service_id, name, state, label, None, explanation)


def _day(moment: datetime) -> str:
    return format_date(moment.astimezone(OSLO).date())


def consent_overview(
    page: StafettloggPage, viewer: Viewer, *, now: datetime | None = None
) -> ConsentOverview:
    """Where consent stands for each service unit in the log, for the viewer's page."""
    now = now or datetime.now(UTC)
    today = now.astimezone(OSLO).date()
    consents = sorted(page.consents, key=lambda c: c.recorded_at, reverse=True)
    by_service: dict[str, list[ConsentView]] = {}
    for consent in consents:
        by_service.setdefault(consent.service_id, []).append(consent)
    services = [
        _service_consent(p.principal_id, p.name, by_service.get(p.principal_id, []), today, now)
        for p in page.participants
        if p.kind == "service"
    ]
    guardian_here = viewer.role == "guardian" and any(
        p.kind == "person" and p.principal_id == viewer.subject for p in page.participants
    )
    coordinator = page.is_coordinator
    givers = [
        ConsentGiver(p.principal_id, p.name)
        for p in page.participants
        if p.kind == "person" and p.role != "coordinator" and p.principal_id != viewer.subject
    ]
    return ConsentOverview(
        services=services,
        givers=givers,
        can_give=guardian_here and page.is_open,
        can_record_paper=coordinator,
        can_see_access_log=guardian_here or coordinator,
        default_valid_until=default_valid_until(today).isoformat(),
        scope_labels=CONSENT_SCOPE_LABELS,
    )


def seal_consent_scan(
    stafettlogg_id: str,
    entry_id: str,
    scan: bytes,
    *,
    epoch: int,
    epoch_key: bytes,
    author: str,
    author_keys: ParticipantKeys,
    created_at: str,
) -> SealedEnvelope:
    """Seal a scanned paper form (its bytes as they are) like an entry of type consent_scan,
    under the log's current epoch key, signed by the coordinator who records it."""
    header = EnvelopeHeader(
        version=1,
        stafettlogg_id=stafettlogg_id,
        entry_id=entry_id,
        epoch=epoch,
        author=author,
        type=CONSENT_SCAN_TYPE,
        created_at=created_at,
    )
    return seal_envelope(
        scan, header=header, epoch_key=epoch_key, author_key=author_keys.signing_key()
    )


@dataclass(frozen=True, slots=True)
class ConsentTargets:
    """What the consent forms may name in one log, as logg and auth's directory say now."""

    services: dict[str, str]  # id → name of the service units taking part
    givers: frozenset[str]  # persons who may have signed a paper form (not the coordinator)


class ConsentService:
    """Giving, refusing and withdrawing consent through logg, for the person logged in."""

    def __init__(self, auth: AuthClient, logg: LoggClient) -> None:
        self._auth = auth
        self._logg = logg
        self._epochs = EpochRotation(auth, logg)

    async def _token(self, viewer: Viewer) -> str:
        # A token is good for one call (logg refuses a replay): one exchange per call.
        return await self._auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)

    async def targets(self, viewer: Viewer, stafettlogg_id: str) -> ConsentTargets:
        """The service units in the log (with their names) and who may have signed for them.
        Raises LoggError when the viewer may not read the log."""
        view = await self._logg.get_stafettlogg(await self._token(viewer), stafettlogg_id)
        present = {p.principal_id for p in view.participants if p.kind == "service"}
        try:
            names = {
                unit.id: unit.name for unit in await self._auth.services(viewer.session_cookie)
            }
        except AuthRefusedError:
            names = {}
        return ConsentTargets(
            services={service_id: names.get(service_id, "tjenesten") for service_id in present},
            givers=frozenset(
                p.principal_id
                for p in view.participants
                if p.kind == "person" and p.role != "coordinator"
            ),
        )

    async def give(
        self,
        viewer: Viewer,
        stafettlogg_id: str,
        *,
        consent_id: str,
        service_id: str,
        decision: ConsentDecision,
        last_day: date,
        scopes: Sequence[str],
        history: bool = False,
    ) -> ConsentView:
        """Record the viewer's own consent (or refusal) for a service unit, in the portal; for
        a consent, wrap the log's keys for the service at once (`_grant_keys`)."""
        consent = NewConsent(
            id=consent_id,
            service_id=service_id,
            status=decision,
            scopes=[_SCOPES[scope] for scope in scopes],
            valid_from=datetime.now(UTC).replace(microsecond=0),
            valid_until=valid_until_moment(last_day),
            method="portal",
            history=history and decision == "given",
        )
        view = await self._logg.record_consent(await self._token(viewer), stafettlogg_id, consent)
        await self._grant_keys(viewer, stafettlogg_id, view)
        return view

    async def _grant_keys(self, viewer: Viewer, stafettlogg_id: str, consent: ConsentView) -> None:
        """A consent valid now lets the service read at once: the viewer's portal wraps the
        current epoch key for it (and the history, if the consent allows it), also when the
        consent is given again after it ended (services.portal.epochs)."""
        if consent.valid_now:
            await self._epochs.grant_after_consent(
                viewer, stafettlogg_id, consent.service_id, history=consent.history
            )

    async def withdraw(self, viewer: Viewer, stafettlogg_id: str, consent_id: str) -> ConsentView:
        """Withdraw a consent in the portal: the service's next request is refused, and the
        next key epoch is started for those who remain (services.portal.epochs)."""
        withdrawn = await self._logg.withdraw_consent(
            await self._token(viewer),
            stafettlogg_id,
            consent_id,
            WithdrawalRequest(method="portal"),
        )
        await self._epochs.rotate_if_due(viewer, stafettlogg_id)
        return withdrawn

    async def _seal_scan(
        self, viewer: Viewer, stafettlogg_id: str, entry_id: str, scan: bytes
    ) -> SealedEnvelope:
        view = await self._logg.get_stafettlogg(await self._token(viewer), stafettlogg_id)
        epoch_keys = open_epoch_keys(
            view,
            subject=viewer.subject,
            keys=viewer.keys,
            service_id=viewer.service_id,
            service_keys=viewer.service_keys,
        )
        epoch_key = epoch_keys.get(view.current_epoch)
        if epoch_key is None:
            raise MissingEpochKeyError
        return seal_consent_scan(
            view.id,
            entry_id,
            scan,
            epoch=view.current_epoch,
            epoch_key=epoch_key,
            author=viewer.subject,
            author_keys=viewer.keys,
            created_at=utc_timestamp(),
        )

    async def record_paper(
        self,
        viewer: Viewer,
        stafettlogg_id: str,
        *,
        consent_id: str,
        service_id: str,
        decision: ConsentDecision,
        given_by: str,
        last_day: date,
        scopes: Sequence[str],
        scan: bytes,
        history: bool = False,
    ) -> ConsentView:
        """Record a consent (or refusal) signed on paper, with the form's scan sealed first."""
        sealed = await self._seal_scan(viewer, stafettlogg_id, consent_id, scan)
        consent = NewConsent(
            id=consent_id,
            service_id=service_id,
            status=decision,
            scopes=[_SCOPES[scope] for scope in scopes],
            valid_from=datetime.now(UTC).replace(microsecond=0),
            valid_until=valid_until_moment(last_day),
            method="paper",
            given_by=given_by,
            scan=sealed,
            history=history and decision == "given",
        )
        view = await self._logg.record_consent(await self._token(viewer), stafettlogg_id, consent)
        await self._grant_keys(viewer, stafettlogg_id, view)
        return view

    async def record_paper_withdrawal(
        self, viewer: Viewer, stafettlogg_id: str, consent_id: str, scan: bytes
    ) -> ConsentView:
        """Record a withdrawal signed on paper, with its scan sealed first."""
        sealed = await self._seal_scan(viewer, stafettlogg_id, new_consent_id(), scan)
        withdrawn = await self._logg.withdraw_consent(
            await self._token(viewer),
            stafettlogg_id,
            consent_id,
            WithdrawalRequest(method="paper", scan=sealed),
        )
        await self._epochs.rotate_if_due(viewer, stafettlogg_id)
        return withdrawn
