"""Starting a log's next key epoch when a participant has left (removed, consent withdrawn or
expired), so that nothing written from then on opens with a key the leaver holds.

logg names the remaining participants and refuses entries until the next epoch begins (409
`epoch-rotation-required`, services.logg.epochs); the portal, which alone handles keys, makes a
fresh epoch key, wraps it (HPKE, `KeyGrantContext(log, epoch, kind, id)`) for each remaining
participant with the public keys auth's directory vouches for, and sends the grants. Nothing
written before is re-encrypted: readers keep their grants for earlier epochs.

When a service's consent is given — for the first time after the coordinator added it, or
again after it ended (its grants were deleted when it left) — the consenting guardian's (or the
recording coordinator's) portal wraps the current epoch key for the service at once
(`grant_after_consent`), and the earlier epochs too if the consent lets it see the history;
logg stores only what the consent allows and never replaces a grant.

Trust: the list of recipients comes from logg, as the list of participants always does; the
public keys come from auth. A logg that lies about who remains could add a recipient, exactly as
it could add a participant (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.portal.auth_client import (
    AUDIENCE_LOGG,
    AuthClient,
    AuthRefusedError,
    AuthUnavailableError,
)
from services.portal.logg_client import LoggClient, LoggError, LoggUnavailableError
from services.portal.sealing import grant_epoch_key, open_epoch_keys
from services.portal.viewer import Viewer
from shared.crypto.envelope import new_epoch_key
from shared.crypto.keys import PublicKeys
from shared.wire import EpochRecipient, NewEpoch, NewKeyGrants

__all__ = ["EpochRotation", "is_rotation_required"]

_log = logging.getLogger("stafett.portal.epochs")
_T = TypeVar("_T")
_ROTATION_REQUIRED = "epoch-rotation-required"
_CONFLICT = "epoch-conflict"
_NOT_TAKING_PART = "recipient-not-taking-part"


def is_rotation_required(error: LoggError) -> bool:
    """logg refused a write because a participant left and the next epoch has not begun."""
    return error.status == 409 and error.type.endswith(_ROTATION_REQUIRED)


class EpochRotation:
    """Starts the next key epoch of a log for one viewer (who must be allowed to write)."""

    def __init__(self, auth: AuthClient, logg: LoggClient) -> None:
        self._auth = auth
        self._logg = logg

    async def _token(self, viewer: Viewer) -> str:
        # A token is good for one call (logg refuses a replay): one exchange per call.
        return await self._auth.access_token(viewer.session_cookie, AUDIENCE_LOGG)

    async def _public_keys(self, viewer: Viewer, recipient: EpochRecipient) -> PublicKeys:
        if recipient.kind == "person" and recipient.id == viewer.subject:
            return viewer.keys.public()
        if (
            recipient.kind == "service"
            and recipient.id == viewer.service_id
            and viewer.service_keys is not None
        ):
            return viewer.service_keys.public()
        principal = await self._auth.principal(viewer.session_cookie, recipient.kind, recipient.id)
        return principal.public_keys()

    async def rotate(self, viewer: Viewer, stafettlogg_id: str) -> int:
        """Start the next epoch, wrapped for exactly those logg says remain; return its number.

        Guarantees: the new epoch key is fresh (never derived from an old one) and each grant
        is bound to this log, epoch and recipient. If another writer started the epoch first
        (409 `epoch-conflict`), that is success too. Raises LoggError / AuthRefusedError when
        logg refuses or a remaining participant has no keys in auth's directory."""
        status = await self._logg.epoch_status(await self._token(viewer), stafettlogg_id)
        epoch = status.current_epoch + 1
        epoch_key = new_epoch_key()
        publics = await asyncio.gather(
            *(self._public_keys(viewer, recipient) for recipient in status.recipients)
        )
        grants = [
            grant_epoch_key(
                stafettlogg_id,
                epoch,
                epoch_key,
                recipient_kind=recipient.kind,
                recipient_id=recipient.id,
                recipient_public=public,
            )
            for recipient, public in zip(status.recipients, publics, strict=True)
        ]
        try:
            await self._logg.start_epoch(
                await self._token(viewer), stafettlogg_id, NewEpoch(epoch=epoch, key_grants=grants)
            )
        except LoggError as error:
            if not (error.status == 409 and error.type.endswith(_CONFLICT)):
                raise
        return epoch

    async def rotate_if_due(self, viewer: Viewer, stafettlogg_id: str) -> None:
        """After the viewer removed a participant or withdrew a consent: start the next epoch now
        if logg says it is due. A failure is logged, not raised: the leaver is already refused by
        logg, and the next write rotates (`write`)."""
        try:
            status = await self._logg.epoch_status(await self._token(viewer), stafettlogg_id)
            if status.rotation_required:
                await self.rotate(viewer, stafettlogg_id)
        except (LoggError, LoggUnavailableError, AuthRefusedError, AuthUnavailableError) as error:
            _log.warning("could not start the next key epoch now: %s", type(error).__name__)

    async def write(
        self,
        viewer: Viewer,
        stafettlogg_id: str,
        attempt: Callable[[], Awaitable[_T]],
    ) -> _T:
        """Run a write (which seals under the current epoch each time it is called); if logg
        answers 409 `epoch-rotation-required`, start the next epoch and run it once more."""
        try:
            return await attempt()
        except LoggError as error:
            if not is_rotation_required(error):
                raise
        await self.rotate(viewer, stafettlogg_id)
        return await attempt()

    async def grant_after_consent(
        self, viewer: Viewer, stafettlogg_id: str, service_id: str, *, history: bool
    ) -> int:
        """After the viewer recorded a consent given to `service_id`: wrap the log's current
        epoch key for the service now (and every earlier epoch the viewer holds, if `history`),
        so its staff read without waiting for the next rotation. Returns how many epochs were
        sent; 0 when the service takes no part in the log yet (its keys come when it is added)
        or something failed (logged, not raised: the consent itself is recorded).

        Guarantees: each grant is bound to this log, epoch and service and made with the public
        key auth's directory vouches for; logg refuses earlier epochs unless the consent allows
        history, and keeps a grant the service already holds."""
        try:
            view = await self._logg.get_stafettlogg(await self._token(viewer), stafettlogg_id)
            epoch_keys = open_epoch_keys(
                view,
                subject=viewer.subject,
                keys=viewer.keys,
                service_id=viewer.service_id,
                service_keys=viewer.service_keys,
            )
            if view.current_epoch not in epoch_keys:
                return 0
            epochs = sorted(epoch_keys) if history else [view.current_epoch]
            recipient = EpochRecipient(kind="service", id=service_id)
            public = await self._public_keys(viewer, recipient)
            grants = [
                grant_epoch_key(
                    stafettlogg_id,
                    epoch,
                    epoch_keys[epoch],
                    recipient_kind="service",
                    recipient_id=service_id,
                    recipient_public=public,
                )
                for epoch in epochs
                if epoch <= view.current_epoch
            ]
            request = NewKeyGrants(
                recipient_kind="service", recipient_id=service_id, key_grants=grants
            )
            await self._logg.grant_keys(await self._token(viewer), stafettlogg_id, request)
        except LoggError as error:
            if not (error.status == 409 and error.type.endswith(_NOT_TAKING_PART)):
                _log.warning("could not wrap the log's keys for the service: %s", error.type)
            return 0
        except (LoggUnavailableError, AuthRefusedError, AuthUnavailableError) as error:
            _log.warning("could not wrap the log's keys for the service: %s", type(error).__name__)
            return 0
        return len(grants)
