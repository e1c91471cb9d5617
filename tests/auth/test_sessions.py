"""Sessions: what the session table alone can and cannot open, and when a session ends."""

from __future__ import annotations

import asyncio
import base64
import time

from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth.app import create_app
from services.auth.custody import LocalKek
from services.auth.directory import DirectoryService
from services.auth.models import SessionRow
from services.auth.session_stores import SqlSessionBackend
from services.auth.sessions import NewSession, SessionStore
from services.auth.settings import Settings
from shared.crypto.keys import generate_participant_keys
from shared.db import create_engine
from tests.auth.helpers import AUTH_URL, PORTAL_URL, RewritingTransport, log_in, portal_form
from tests.auth.redis_fixtures import RedisTarget, redis_keys, redis_target

__all__ = ["redis_target"]  # the fixture, imported for pytest


def _rows(settings: Settings) -> list[SessionRow]:
    async def read() -> list[SessionRow]:
        engine = create_engine(settings.database_url)
        async with async_sessionmaker(engine)() as db:
            rows = list((await db.scalars(select(SessionRow))).all())
        await engine.dispose()
        return rows

    return asyncio.run(read())


def _age_sessions(settings: Settings, **values: int) -> None:
    async def write() -> None:
        engine = create_engine(settings.database_url)
        async with engine.begin() as connection:
            await connection.execute(update(SessionRow).values(**values))
        await engine.dispose()

    asyncio.run(write())


def test_session_row_holds_neither_cookie_nor_plain_keys(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, settings: Settings
) -> None:
    context = client.post("/session", data=portal_form(portal_key, guardian_cookie)).json()
    private_keys = base64.b64decode(context["keys"])
    session_id, secret = guardian_cookie.split(".")
    (row,) = _rows(settings)
    stored = b"".join(
        str(value).encode() if not isinstance(value, bytes) else value
        for value in (row.id_hash, row.subject, row.sealed_secrets, row.idp_sid)
    )
    assert session_id.encode() not in stored
    assert secret.encode() not in stored
    assert base64.urlsafe_b64decode(secret + "=") not in stored
    assert private_keys not in row.sealed_secrets
    assert private_keys[1:33] not in row.sealed_secrets


def test_sealed_session_secrets_do_not_open_without_the_cookie_secret(
    settings: Settings,
) -> None:
    async def scenario() -> tuple[bool, bool]:
        engine = create_engine(settings.database_url)
        store = SessionStore(
            SqlSessionBackend(async_sessionmaker(engine, expire_on_commit=False)),
            idle_seconds=60,
            absolute_seconds=600,
        )
        directory = DirectoryService(
            async_sessionmaker(engine, expire_on_commit=False), LocalKek(b"k" * 32), b"h" * 32
        )
        person, _ = await directory.person_for_login("12838510068", "Kari Nordmann", "guardian")
        cookie = await store.create(
            NewSession(
                subject=person.subject,
                role="guardian",
                service_id=None,
                acr="idporten-loa-high",
                idp_issuer="https://idp.example",
                idp_sid=None,
                person_keys=generate_participant_keys(),
                service_keys=None,
                id_token="header.payload.signature",
            )
        )
        session_id = cookie.split(".")[0]
        with_other_secret = await store.open(f"{session_id}.{'A' * 43}")
        with_own_secret = await store.open(cookie)
        await engine.dispose()
        return with_other_secret is None, with_own_secret is not None

    refused_without_secret, opened_with_secret = asyncio.run(scenario())
    assert refused_without_secret
    assert opened_with_secret


def test_idle_session_expires(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, settings: Settings
) -> None:
    _age_sessions(settings, last_seen_at=int(time.time()) - settings.session_idle_seconds - 1)
    response = client.post("/session", data=portal_form(portal_key, guardian_cookie))
    assert response.status_code == 401
    assert _rows(settings) == []


def test_session_expires_at_its_absolute_limit_even_when_active(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str, settings: Settings
) -> None:
    _age_sessions(settings, expires_at=int(time.time()) - 1)
    response = client.post("/session", data=portal_form(portal_key, guardian_cookie))
    assert response.status_code == 401


def test_malformed_cookie_values_are_refused(
    client: TestClient[Litestar], portal_key: OKPKey
) -> None:
    for value in ["", "no-dot", "a.b", "A" * 43 + "." + "B" * 42 + "!", "." * 87]:
        response = client.post("/session", data=portal_form(portal_key, value))
        assert response.status_code in {400, 401}


def test_each_login_gets_a_new_session_id_and_the_old_cookie_stops_working(
    client: TestClient[Litestar], portal_key: OKPKey, guardian_cookie: str
) -> None:
    again = log_in(client, "guardian", "12838510068")
    assert again.status_code == 303
    new_cookie = client.cookies["stafett_session"]
    assert new_cookie.split(".")[0] != guardian_cookie.split(".")[0]
    old = client.post("/session", data=portal_form(portal_key, guardian_cookie))
    assert old.status_code == 401
    new = client.post("/session", data=portal_form(portal_key, new_cookie))
    assert new.status_code == 200


def test_session_cookie_is_httponly_lax_and_host_wide(client: TestClient[Litestar]) -> None:
    response = log_in(client, "guardian", "12838510068")
    (cookie,) = [
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("stafett_session=")
    ]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "path=/" in cookie.lower()
    assert "domain" not in attributes


def test_sessions_live_in_redis_when_configured_and_not_in_the_database(
    environ: dict[str, str], redis_target: RedisTarget, portal_key: OKPKey
) -> None:
    environ = {
        **environ,
        "STAFETT_SESSION_REDIS_URL": redis_target.url,
        "STAFETT_REDIS_KEY_PREFIX": redis_target.prefix,
    }
    settings = Settings.from_env(environ)
    transport = RewritingTransport()
    app = create_app(settings, http_transport=transport)
    transport.attach(app)
    with TestClient(app, base_url=AUTH_URL) as client:
        client.follow_redirects = False
        assert log_in(client, "guardian", "12838510068").status_code == 303
        cookie = client.cookies["stafett_session"]
        context = client.post("/session", data=portal_form(portal_key, cookie))
        assert context.status_code == 200
        logout = client.post("/logout", headers={"Origin": PORTAL_URL})
        assert logout.status_code == 303
        after = client.post("/session", data=portal_form(portal_key, cookie))
        assert after.status_code == 401
    assert _rows(settings) == []
    assert not any(b":session:" in key for key in redis_keys(redis_target))
