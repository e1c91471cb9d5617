"""What the benchmark sends: logs set up in logg, and files of unique requests for wrk.

Requests are built before a run (tokens minted, entries sealed and signed) so that none of that
is measured: wrk only replays bytes.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import msgspec

from bench.tokens import BenchMinter
from bench.wrk import PreparedRequest
from services.logg.sealing import encode_sealed
from tests.logg.helpers import (
    JSON,
    Actor,
    entry_body,
    json_body,
    new_id,
    rfc3339,
    seal,
    stafettlogg_body,
)

__all__ = ["ENTRY_PLAINTEXT", "FloorTarget", "LoggLog", "LoggTarget"]

# What the portal seals for an entry (services.portal.sealing.EntryBody), of a typical length.
ENTRY_PLAINTEXT = msgspec.json.encode(
    {"text": "Barnet hadde en god dag i barnehagen, og lekte mye med de andre barna ute."}
)


class LoggLog(msgspec.Struct, frozen=True):
    id: str
    epoch_key: bytes


class LoggTarget:
    """A running logg, one staff coordinator who writes and reads, and a token minter."""

    def __init__(self, base_url: str, minter: BenchMinter) -> None:
        self.base_url = base_url
        self.minter = minter
        self.actor = Actor.staff()  # the coordinator, who writes and reads
        self.guardian = Actor.guardian()  # gives the coordinator's service unit consent

    def _post(
        self, client: httpx.Client, path: str, body: object, actor: Actor | None = None
    ) -> httpx.Response:
        token = self.minter.token(actor or self.actor)
        headers = {**JSON, "Authorization": f"Bearer {token}"}
        response = client.post(path, content=msgspec.json.encode(body), headers=headers)
        if response.status_code != 201 and response.status_code != 404:
            raise RuntimeError(f"logg refused {path}: {response.status_code} {response.text}")
        return response

    def _give_consent(self, client: httpx.Client, log_id: str) -> None:
        """The guardian consents (in the portal's way) to the coordinator's service unit, so that
        every staff request passes the consent check. A logg without consents answers 404."""
        now = datetime.now(UTC)
        consent = {
            "id": new_id("consent"),
            "service_id": self.actor.service,
            "status": "given",
            "scopes": ["all"],
            "valid_from": rfc3339(now - timedelta(minutes=1)),
            "valid_until": rfc3339(now + timedelta(days=30)),
            "method": "portal",
        }
        self._post(client, f"/stafettlogger/{log_id}/consents", consent, self.guardian)

    def create_log(self, entries: int = 0) -> LoggLog:
        """A new log (the guardian takes part and consents), with `entries` entries written
        through the API."""
        body, key = stafettlogg_body(self.actor, participants=[(self.guardian, "person", "writer")])
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            if self._post(client, "/stafettlogger", body).status_code != 201:
                raise RuntimeError("logg has no POST /stafettlogger")
            self._give_consent(client, body.id)
            for _ in range(entries):
                entry = entry_body(self.actor, body.id, key, plaintext=ENTRY_PLAINTEXT)
                self._post(client, f"/stafettlogger/{body.id}/entries", entry)
        return LoggLog(body.id, key)

    def writes(self, log: LoggLog, count: int) -> Iterator[PreparedRequest]:
        path = f"/stafettlogger/{log.id}/entries"
        for _ in range(count):
            body = json_body(
                entry_body(self.actor, log.id, log.epoch_key, plaintext=ENTRY_PLAINTEXT)
            )
            yield PreparedRequest("POST", path, self.minter.token(self.actor), body)

    def reads(self, log: LoggLog, count: int, page: int) -> Iterator[PreparedRequest]:
        path = f"/stafettlogger/{log.id}/entries?limit={page}"
        for _ in range(count):
            yield PreparedRequest("GET", path, self.minter.token(self.actor))


class FloorTarget:
    """The floor app: rows carrying a stored entry's bytes, no tokens."""

    READ_LOG = "floor-read"

    def __init__(self, base_url: str, sample: Actor) -> None:
        self.base_url = base_url
        envelope = seal(sample, "floor", secrets.token_bytes(32), plaintext=ENTRY_PLAINTEXT)
        self._data = base64.b64encode(encode_sealed(envelope)).decode("ascii")

    def _body(self, log: str) -> bytes:
        row_id = f"row-{secrets.token_hex(8)}"
        return msgspec.json.encode({"id": row_id, "log": log, "data": self._data})

    def seed_read_log(self, rows: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            for _ in range(rows):
                response = client.post("/rows", content=self._body(self.READ_LOG), headers=JSON)
                response.raise_for_status()

    def inserts(self, count: int) -> Iterator[PreparedRequest]:
        for _ in range(count):
            yield PreparedRequest("POST", "/rows", None, self._body("floor-write"))

    def reads(self, count: int, page: int) -> Iterator[PreparedRequest]:
        path = f"/rows?log={self.READ_LOG}&limit={page}"
        return (PreparedRequest("GET", path) for _ in range(count))
