"""Reusable test helpers for logg: minting service tokens, and building real sealed envelopes,
key grants and request bodies with shared.crypto. Also used by the benchmarks."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from shared.crypto.envelope import EnvelopeHeader, SealedEnvelope, new_epoch_key, seal_envelope
from shared.crypto.hpke import KeyGrantContext, wrap_epoch_key
from shared.crypto.keys import ParticipantKeys, generate_participant_keys
from shared.wire import (
    NewConsent,
    NewEntry,
    NewEpoch,
    NewKeyGrant,
    NewParticipant,
    NewParticipantRequest,
    NewStafettlogg,
    ParticipantKind,
    ParticipantRole,
)

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "JSON",
    "Actor",
    "LoggApi",
    "TokenMinter",
    "b64url",
    "consent_body",
    "entry_body",
    "json_body",
    "new_id",
    "participant_body",
    "rfc3339",
    "seal",
    "stafettlogg_body",
    "wrap_grant",
]

ISSUER = "http://auth.test"
JSON = {"Content-Type": "application/json"}
AUDIENCE = "stafett-logg"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_id(prefix: str = "id") -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def rfc3339(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Actor:
    """A person (guardian or staff) or a service unit taking part, with real participant keys."""

    subject: str
    role: Literal["guardian", "staff"] = "staff"
    service: str | None = None
    keys: ParticipantKeys = field(default_factory=generate_participant_keys)

    @property
    def sign_key_claim(self) -> str:
        return b64url(self.keys.public().sign_public)

    @classmethod
    def staff(cls, service: str | None = None) -> Actor:
        return cls(new_id("staff"), "staff", service or new_id("service"))

    @classmethod
    def guardian(cls) -> Actor:
        return cls(new_id("guardian"), "guardian", None)


class TokenMinter:
    """Plays auth's token issuer: an Ed25519 signing key and its public JWKS."""

    def __init__(self, issuer: str = ISSUER, kid: str | None = None) -> None:
        self.issuer = issuer
        self.key = OKPKey.generate_key("Ed25519", parameters={"kid": kid or new_id("kid")})
        self.public_keys = KeySet([OKPKey.import_key(self.key.as_dict(private=False))])

    async def key_source(self, _kid: str | None) -> KeySet:
        return self.public_keys

    def claims(self, actor: Actor, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": actor.subject,
            "aud": AUDIENCE,
            "role": actor.role,
            "acr": "idporten-loa-high",
            "sign_key": actor.sign_key_claim,
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "nbf": now,
            "exp": now + 120,
        }
        if actor.service is not None:
            claims["service"] = actor.service
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def token(self, actor: Actor, **overrides: Any) -> str:
        header = {"alg": "Ed25519", "kid": self.key.kid, "typ": "at+jwt"}
        return jwt.encode(header, self.claims(actor, **overrides), self.key, algorithms=["Ed25519"])

    def headers(self, actor: Actor, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(actor, **overrides)}"}

    def unsigned_token(self, actor: Actor) -> str:
        """An `alg: none` token with otherwise valid claims."""
        header = b64url(json.dumps({"alg": "none", "kid": self.key.kid}).encode())
        body = b64url(json.dumps(self.claims(actor)).encode())
        return f"{header}.{body}."


def seal(
    author: Actor,
    stafettlogg_id: str,
    epoch_key: bytes,
    *,
    epoch: int = 1,
    entry_type: str = "observation",
    entry_id: str | None = None,
    created_at: str | None = None,
    plaintext: bytes = b"Barnet hadde en god dag i barnehagen.",
    header_author: str | None = None,
) -> SealedEnvelope:
    header = EnvelopeHeader(
        version=1,
        stafettlogg_id=stafettlogg_id,
        entry_id=entry_id or new_id("entry"),
        epoch=epoch,
        author=header_author or author.subject,
        type=entry_type,
        created_at=created_at or rfc3339(),
    )
    return seal_envelope(
        plaintext, header=header, epoch_key=epoch_key, author_key=author.keys.signing_key()
    )


def wrap_grant(
    stafettlogg_id: str,
    epoch_key: bytes,
    recipient: Actor,
    *,
    kind: Literal["person", "service"] = "person",
    recipient_id: str | None = None,
    epoch: int = 1,
) -> NewKeyGrant:
    """The epoch key wrapped (HPKE) for a person (their subject) or a service unit."""
    rid = recipient_id or (recipient.subject if kind == "person" else recipient.service)
    assert rid is not None
    context = KeyGrantContext(stafettlogg_id, epoch, kind, rid)
    wrapped = wrap_epoch_key(epoch_key, recipient.keys.public(), context)
    return NewKeyGrant(epoch=epoch, recipient_kind=kind, recipient_id=rid, wrapped_key=wrapped)


def stafettlogg_body(
    coordinator: Actor,
    *,
    stafettlogg_id: str | None = None,
    epoch_key: bytes | None = None,
    participants: list[tuple[Actor, ParticipantKind, ParticipantRole]] | None = None,
) -> tuple[NewStafettlogg, bytes]:
    """A create request: description sealed by the coordinator, grants for everyone listed.
    `participants` holds (actor, kind, role); a service participant's key is the actor's."""
    log_id = stafettlogg_id or new_id("log")
    key = epoch_key or new_epoch_key()
    description = seal(coordinator, log_id, key, entry_type="description", entry_id="description")
    grants = [wrap_grant(log_id, key, coordinator)]
    extra: list[NewParticipant] = []
    for actor, kind, role in participants or []:
        principal = actor.subject if kind == "person" else actor.service
        assert principal is not None
        extra.append(NewParticipant(kind=kind, principal_id=principal, role=role))
        grants.append(wrap_grant(log_id, key, actor, kind=kind))
    body = NewStafettlogg(
        id=log_id, sealed_description=description, key_grants=grants, participants=extra
    )
    return body, key


def participant_body(
    stafettlogg_id: str,
    epoch_key: bytes,
    actor: Actor,
    *,
    kind: ParticipantKind = "person",
    role: ParticipantRole = "writer",
) -> NewParticipantRequest:
    principal = actor.subject if kind == "person" else actor.service
    assert principal is not None
    return NewParticipantRequest(
        participant=NewParticipant(kind=kind, principal_id=principal, role=role),
        key_grants=[wrap_grant(stafettlogg_id, epoch_key, actor, kind=kind)],
    )


def entry_body(author: Actor, stafettlogg_id: str, epoch_key: bytes, **kwargs: Any) -> NewEntry:
    return NewEntry(sealed=seal(author, stafettlogg_id, epoch_key, **kwargs))


def consent_body(
    service_id: str,
    *,
    consent_id: str | None = None,
    status: Literal["given", "refused"] = "given",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    paper_by: tuple[Actor, str, bytes] | None = None,
) -> NewConsent:
    """A consent for a service unit, valid from an hour ago for a year unless told otherwise.
    `paper_by` = (coordinator, log id, epoch key): a paper consent with a sealed scan."""
    now = datetime.now(UTC)
    cid = consent_id or new_id("consent")
    scan = None
    given_by = None
    if paper_by is not None:
        recorder, log_id, key = paper_by
        scan = seal(
            recorder, log_id, key, entry_type="consent_scan", entry_id=cid, plaintext=b"%PDF-1.7"
        )
        given_by = new_id("guardian")
    return NewConsent(
        id=cid,
        service_id=service_id,
        status=status,
        scopes=["all"],
        valid_from=valid_from or now - timedelta(hours=1),
        valid_until=valid_until or now + timedelta(days=365),
        method="paper" if paper_by is not None else "portal",
        given_by=given_by,
        scan=scan,
    )


def json_body(struct: msgspec.Struct) -> bytes:
    return msgspec.json.encode(struct)


class LoggApi:
    """A logg client (Litestar's TestClient or any httpx-like client) that signs in as an actor."""

    def __init__(self, client: Any, minter: TokenMinter) -> None:
        self.client = client
        self.minter = minter

    def post(self, path: str, body: msgspec.Struct | bytes, actor: Actor, **claims: Any) -> Any:
        content = body if isinstance(body, bytes) else json_body(body)
        headers = {**JSON, **self.minter.headers(actor, **claims)}
        return self.client.post(path, content=content, headers=headers)

    def get(self, path: str, actor: Actor, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params=params, headers=self.minter.headers(actor))

    def consent(
        self, log_id: str, coordinator: Actor, key: bytes, service_id: str, **kwargs: Any
    ) -> str:
        """The coordinator records a paper consent for the service; returns its id."""
        body = consent_body(service_id, paper_by=(coordinator, log_id, key), **kwargs)
        response = self.post(f"/stafettlogger/{log_id}/consents", body, coordinator)
        assert response.status_code == 201, response.text
        return body.id

    def create(
        self,
        coordinator: Actor,
        participants: list[tuple[Actor, ParticipantKind, ParticipantRole]] | None = None,
    ) -> tuple[str, bytes]:
        """Create a log; return its id and epoch-1 key."""
        body, key = stafettlogg_body(coordinator, participants=participants)
        response = self.post("/stafettlogger", body, coordinator)
        assert response.status_code == 201, response.text
        return body.id, key

    def rotate(self, log_id: str, by: Actor, actors: list[Actor]) -> tuple[int, bytes]:
        """Start the log's next key epoch as `by`, wrapped for the recipients logg names (found
        among `actors`: persons by subject, services by their service); return (epoch, key)."""
        status = self.get(f"/stafettlogger/{log_id}/epochs", by)
        assert status.status_code == 200, status.text
        epoch = status.json()["current_epoch"] + 1
        key = new_epoch_key()
        grants = []
        for recipient in status.json()["recipients"]:
            kind, rid = recipient["kind"], recipient["id"]
            actor = next(a for a in actors if (a.subject if kind == "person" else a.service) == rid)
            grants.append(wrap_grant(log_id, key, actor, kind=kind, recipient_id=rid, epoch=epoch))
        response = self.post(f"/stafettlogger/{log_id}/epochs", NewEpoch(epoch, grants), by)
        assert response.status_code == 201, response.text
        return epoch, key
