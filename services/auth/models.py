"""auth's tables and every SQL statement auth runs. Times are Unix seconds (UTC), the same on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "LoginAttemptRow",
    "PersonRow",
    "ServiceUnitRow",
    "SessionRow",
    "SigningKeyRow",
    "UsedAssertionRow",
    "delete_expired",
    "delete_session",
    "find_person_by_pid_hmac",
    "get_person",
    "get_service_unit",
    "get_session",
    "list_service_units",
    "list_signing_keys",
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


class PersonRow(Base):
    __tablename__ = "persons"

    subject: Mapped[str] = mapped_column(String(32), primary_key=True)
    pid_hmac: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 hex, never pid
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # guardian | staff
    service_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("service_units.id"), nullable=True
    )
    hpke_public: Mapped[bytes] = mapped_column(LargeBinary)
    sign_public: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_keys: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


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
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_jwk: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)


class UsedAssertionRow(Base):
    """Client assertion ids already seen, kept until the assertion would have expired."""

    __tablename__ = "used_client_assertions"

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
    return (
        await db.scalars(
            select(SigningKeyRow).order_by(SigningKeyRow.created_at, SigningKeyRow.kid)
        )
    ).all()


async def delete_expired(db: AsyncSession, now: int, idle_seconds: int) -> None:
    await db.execute(delete(LoginAttemptRow).where(LoginAttemptRow.expires_at < now))
    await db.execute(delete(UsedAssertionRow).where(UsedAssertionRow.expires_at < now))
    await db.execute(
        delete(SessionRow).where(
            (SessionRow.expires_at < now) | (SessionRow.last_seen_at < now - idle_seconds)
        )
    )
