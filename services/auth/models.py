"""auth's tables and every SQL statement auth runs. Times are Unix seconds (UTC), the same on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    false,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AdminAuditRow",
    "Base",
    "LoginAttemptRow",
    "PersonRow",
    "ServiceUnitRow",
    "SessionRow",
    "SigningKeyRow",
    "StaffMembershipRow",
    "UsedAccessTokenRow",
    "UsedAssertionRow",
    "active_service_units_of",
    "add_admin_audit",
    "delete_expired",
    "delete_session",
    "find_person_by_pid_hmac",
    "find_persons_by_pid_hmacs",
    "get_person",
    "get_service_unit",
    "get_session",
    "list_admin_audit",
    "list_persons_by_kind",
    "list_service_units",
    "list_signing_keys",
    "list_staff_memberships",
    "set_session_service",
    "set_staff_memberships",
    "staff_service_ids",
    "take_login_attempt",
    "touch_session",
]


class Base(DeclarativeBase):
    pass


class ServiceUnitRow(Base):
    __tablename__ = "service_units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hpke_public: Mapped[bytes] = mapped_column(LargeBinary)
    sign_public: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_keys: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    deactivated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PersonRow(Base):
    __tablename__ = "persons"

    subject: Mapped[str] = mapped_column(String(32), primary_key=True)
    pid_hmac: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 hex, never pid
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # guardian | staff
    # A municipal administrator (staff only). Service units: StaffMembershipRow.
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    deactivated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hpke_public: Mapped[bytes] = mapped_column(LargeBinary)
    sign_public: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_keys: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class StaffMembershipRow(Base):
    """A staff member works for a service unit (one person, several units)."""

    __tablename__ = "staff_memberships"

    person_subject: Mapped[str] = mapped_column(
        String(32), ForeignKey("persons.subject", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("service_units.id"), primary_key=True, index=True
    )
    created_at: Mapped[int] = mapped_column(BigInteger)


class AdminAuditRow(Base):
    """Who changed what in the directory, and when. Never holds a fødselsnummer."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(32))  # the administrator's subject
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str] = mapped_column(String(16))  # person | service | import
    target_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # JSON


class SessionRow(Base):
    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the id
    subject: Mapped[str] = mapped_column(String(32), ForeignKey("persons.subject"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acr: Mapped[str] = mapped_column(String(64))
    idp_issuer: Mapped[str] = mapped_column(String(255))
    idp_sid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sealed_secrets: Mapped[bytes] = mapped_column(LargeBinary)  # under HKDF(session secret)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # the absolute limit


class LoginAttemptRow(Base):
    __tablename__ = "login_attempts"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(2048))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class SigningKeyRow(Base):
    """A service-token signing key: published from `created_at`, signing from `signs_from`,
    deleted when retired (services.auth.signing_keys)."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("generation", name="uq_signing_keys_generation"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_jwk: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # 1, 2, 3 …: unique, so of several instances rotating at once exactly one insert wins.
    generation: Mapped[int] = mapped_column(BigInteger)
    signs_from: Mapped[int] = mapped_column(BigInteger)


class UsedAssertionRow(Base):
    """Client assertion ids already seen, kept until the assertion would have expired."""

    __tablename__ = "used_client_assertions"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class UsedAccessTokenRow(Base):
    """Service token ids (SHA-256) already presented to auth, kept until the token expires."""

    __tablename__ = "used_access_tokens"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


async def get_service_unit(db: AsyncSession, service_id: str) -> ServiceUnitRow | None:
    return await db.get(ServiceUnitRow, service_id)


async def list_service_units(db: AsyncSession) -> Sequence[ServiceUnitRow]:
    return (await db.scalars(select(ServiceUnitRow).order_by(ServiceUnitRow.name))).all()


async def get_person(db: AsyncSession, subject: str) -> PersonRow | None:
    return await db.get(PersonRow, subject)


async def find_person_by_pid_hmac(db: AsyncSession, pid_hmac: str) -> PersonRow | None:
    return await db.scalar(select(PersonRow).where(PersonRow.pid_hmac == pid_hmac))


async def get_session(db: AsyncSession, id_hash: str) -> SessionRow | None:
    return await db.get(SessionRow, id_hash)


async def touch_session(db: AsyncSession, id_hash: str, now: int) -> None:
    await db.execute(
        update(SessionRow).where(SessionRow.id_hash == id_hash).values(last_seen_at=now)
    )


async def set_session_service(
    db: AsyncSession, id_hash: str, service_id: str | None, sealed_secrets: bytes
) -> bool:
    """Change the unit a session acts for and its sealed secrets; False if the row is gone."""
    result = await db.execute(
        update(SessionRow)
        .where(SessionRow.id_hash == id_hash)
        .values(service_id=service_id, sealed_secrets=sealed_secrets)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def active_service_units_of(db: AsyncSession, subject: str) -> Sequence[ServiceUnitRow]:
    """The active units an active staff member works for, oldest membership first."""
    return (
        await db.scalars(
            select(ServiceUnitRow)
            .join(StaffMembershipRow, StaffMembershipRow.service_id == ServiceUnitRow.id)
            .join(PersonRow, PersonRow.subject == StaffMembershipRow.person_subject)
            .where(
                StaffMembershipRow.person_subject == subject,
                PersonRow.kind == "staff",
                PersonRow.deactivated_at.is_(None),
                ServiceUnitRow.deactivated_at.is_(None),
            )
            .order_by(StaffMembershipRow.created_at, StaffMembershipRow.service_id)
        )
    ).all()


async def delete_session(db: AsyncSession, id_hash: str) -> None:
    await db.execute(delete(SessionRow).where(SessionRow.id_hash == id_hash))


async def take_login_attempt(db: AsyncSession, state_hash: str) -> LoginAttemptRow | None:
    """Fetch and delete in one transaction: each login attempt can be completed once."""
    row = await db.get(LoginAttemptRow, state_hash)
    if row is not None:
        result = await db.execute(
            delete(LoginAttemptRow).where(LoginAttemptRow.state_hash == state_hash)
        )
        if getattr(result, "rowcount", 1) != 1:  # a concurrent callback took it first
            return None
    return row


async def list_signing_keys(db: AsyncSession) -> Sequence[SigningKeyRow]:
    return (await db.scalars(select(SigningKeyRow).order_by(SigningKeyRow.generation))).all()


async def delete_expired(db: AsyncSession, now: int, idle_seconds: int) -> None:
    await db.execute(delete(LoginAttemptRow).where(LoginAttemptRow.expires_at < now))
    await db.execute(delete(UsedAssertionRow).where(UsedAssertionRow.expires_at < now))
    await db.execute(
        delete(SessionRow).where(
            (SessionRow.expires_at < now) | (SessionRow.last_seen_at < now - idle_seconds)
        )
    )


async def list_persons_by_kind(db: AsyncSession, kind: str) -> Sequence[PersonRow]:
    return (
        await db.scalars(select(PersonRow).where(PersonRow.kind == kind).order_by(PersonRow.name))
    ).all()


async def list_staff_memberships(db: AsyncSession) -> Sequence[StaffMembershipRow]:
    return (
        await db.scalars(
            select(StaffMembershipRow).order_by(
                StaffMembershipRow.created_at, StaffMembershipRow.service_id
            )
        )
    ).all()


async def staff_service_ids(db: AsyncSession, subject: str) -> list[str]:
    """The units a staff member works for, oldest membership first."""
    rows = await db.scalars(
        select(StaffMembershipRow.service_id)
        .where(StaffMembershipRow.person_subject == subject)
        .order_by(StaffMembershipRow.created_at, StaffMembershipRow.service_id)
    )
    return list(rows.all())


async def set_staff_memberships(
    db: AsyncSession, subject: str, service_ids: Sequence[str], now: int
) -> None:
    """Make the staff member's units exactly `service_ids`, keeping the age of those kept."""
    current = set(await staff_service_ids(db, subject))
    wanted = set(service_ids)
    if current - wanted:
        await db.execute(
            delete(StaffMembershipRow).where(
                StaffMembershipRow.person_subject == subject,
                StaffMembershipRow.service_id.in_(current - wanted),
            )
        )
    for service_id in service_ids:
        if service_id not in current:
            db.add(
                StaffMembershipRow(person_subject=subject, service_id=service_id, created_at=now)
            )


def add_admin_audit(
    db: AsyncSession,
    *,
    at: int,
    actor: str,
    action: str,
    target_kind: str,
    target_id: str,
    detail: str,
) -> None:
    db.add(
        AdminAuditRow(
            at=at,
            actor=actor,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            detail=detail,
        )
    )


async def list_admin_audit(db: AsyncSession, limit: int) -> Sequence[AdminAuditRow]:
    return (
        await db.scalars(select(AdminAuditRow).order_by(AdminAuditRow.id.desc()).limit(limit))
    ).all()


async def find_persons_by_pid_hmacs(
    db: AsyncSession, pid_hmacs: Sequence[str]
) -> dict[str, PersonRow]:
    """The persons among `pid_hmacs` that exist, by pid HMAC (queried in chunks of 500)."""
    found: dict[str, PersonRow] = {}
    for start in range(0, len(pid_hmacs), 500):
        chunk = list(pid_hmacs[start : start + 500])
        rows = await db.scalars(select(PersonRow).where(PersonRow.pid_hmac.in_(chunk)))
        found.update({row.pid_hmac: row for row in rows})
    return found
