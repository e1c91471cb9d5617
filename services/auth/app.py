"""auth's application factory: wires settings, stores and routes; nothing else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import KeySet, RSAKey
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth.clients import ClientAuthenticator
from services.auth.custody.startup import open_custody
from services.auth.directory import DirectoryController, DirectoryService
from services.auth.directory_admin import DirectoryAdminController, DirectoryAdminService
from services.auth.exchange import act_for_service, exchange_token, session_context
from services.auth.frontchannel import frontchannel_logout
from services.auth.health import healthz
from services.auth.jwk_files import load_or_create_rsa_jwk
from services.auth.login import (
    LoginService,
    callback,
    configured_providers,
    login,
    logout,
    logout_done,
)
from services.auth.models import Base, UsedAccessTokenRow
from services.auth.municipality import MunicipalSettingsController, MunicipalSettingsStore
from services.auth.notifications.feed_client import LoggFeedClient
from services.auth.notifications.notifier import Notifier
from services.auth.notifications.routes import NotificationPreferencesController
from services.auth.notifications.smtp import SmtpMailer
from services.auth.notifications.store import NotificationStore
from services.auth.notifications.token import NotifierTokens
from services.auth.oidc import ProviderConfig, RelyingParty
from services.auth.ratelimit import build_rate_limiter, rate_limit_hook
from services.auth.security_headers import auth_header_policy
from services.auth.session_stores import build_session_store
from services.auth.settings import AUTH_AUDIENCE, PORTAL_CLIENT_ID, Settings
from services.auth.signing_keys import SigningKeyRing
from services.auth.test_idp.provider import (
    RegisteredClient,
    TestIdentityProvider,
    TestIdpController,
)
from services.auth.tokens import ServiceTokenIssuer, bearer_claims, jwks
from shared.db import create_engine
from shared.http_security import security_headers_hook
from shared.problems import problem_exception_handlers
from shared.replay import choose_replay_cache
from shared.settings import Mode, SettingsError, load_or_create_secret

__all__ = ["MAX_REQUEST_BODY", "create_app"]

MAX_REQUEST_BODY = 64 * 1024
_TEMPLATES = Path(__file__).parent / "templates"


def _value(value: Any) -> Provide:
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def create_app(
    settings: Settings,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    logg_transport: httpx.AsyncBaseTransport | None = None,
) -> Litestar:
    """Build auth. `http_transport` routes the relying party's outgoing HTTP (discovery, PAR,
    token, JWKS) elsewhere, e.g. into this very app in tests; by default it uses the network.
    Raises SettingsError if a secret is missing in production or the test IdP is asked for
    there. The database must already be migrated (services.auth.database.migrate).
    `logg_transport` does the same for the notifier's calls to logg's feed (app.state.notifier,
    None unless STAFETT_SMTP_HOST is set)."""
    if settings.mode is Mode.PRODUCTION and settings.test_idp:
        raise SettingsError("the test identity provider is refused in production mode")
    opened_custody = open_custody(settings)  # checked against the database in start()
    custody = opened_custody.custody
    pid_hmac_key = load_or_create_secret(settings.pid_hmac_key_file, mode=settings.mode)
    client_key = load_or_create_rsa_jwk(settings.client_key_file, mode=settings.mode)

    engine = create_engine(settings.database_url)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    http = httpx.AsyncClient(transport=http_transport, follow_redirects=False)

    directory = DirectoryService(sessionmaker, custody, pid_hmac_key)
    sessions = build_session_store(settings, sessionmaker)
    rate_limiter = build_rate_limiter(settings, sessionmaker)
    signing_keys = SigningKeyRing(
        sessionmaker, custody, rotation_seconds=settings.token_key_rotation_hours * 3600
    )
    token_issuer = ServiceTokenIssuer(signing_keys, issuer=settings.auth_url)
    # One-shot bearer tokens on the directory; the database decides across instances.
    replay_cache = choose_replay_cache(
        namespace=AUTH_AUDIENCE,
        database_url=settings.database_url,
        redis=None,
        engine=engine,
        table=Base.metadata.tables[UsedAccessTokenRow.__tablename__],
    )
    clients = ClientAuthenticator(
        sessionmaker,
        client_id=PORTAL_CLIENT_ID,
        jwks_file=settings.portal_client_jwks_file,
        audiences=[settings.auth_url, f"{settings.auth_url}/token"],
    )
    providers = configured_providers(settings)
    relying_party = RelyingParty(
        providers, client_key=client_key, redirect_uri=settings.callback_url, http=http
    )
    login_service = LoginService(
        settings, sessionmaker, relying_party, directory, sessions, limiter=rate_limiter
    )
    notifications = NotificationStore(sessionmaker)
    notifier: Notifier | None = None
    logg_http: httpx.AsyncClient | None = None
    if settings.notifications.enabled:
        logg_http = httpx.AsyncClient(transport=logg_transport, follow_redirects=False)
        notifier = Notifier(
            settings.notifications,
            portal_url=settings.portal_url,
            store=notifications,
            feed=LoggFeedClient(
                logg_http,
                logg_url=settings.logg_url,
                token=NotifierTokens(signing_keys, issuer=settings.auth_url),
            ),
            mailer=SmtpMailer(settings.notifications),
        )
    notifier_task: asyncio.Task[None] | None = None

    route_handlers: list[Any] = [
        login,
        callback,
        logout,
        logout_done,
        frontchannel_logout,
        exchange_token,
        session_context,
        act_for_service,
        jwks,
        healthz,
        DirectoryController,
        DirectoryAdminController,
        NotificationPreferencesController,
        MunicipalSettingsController,
    ]
    dependencies = {
        "settings": _value(settings),
        "engine": _value(engine),
        "directory": _value(directory),
        "directory_admin": _value(DirectoryAdminService(sessionmaker, directory, sessions)),
        "sessions": _value(sessions),
        "token_issuer": _value(token_issuer),
        "clients": _value(clients),
        "login_service": _value(login_service),
        "notifications": _value(notifications),
        "municipal_settings": _value(MunicipalSettingsStore(sessionmaker)),
        "auth_verifier": _value(token_issuer.verifier(AUTH_AUDIENCE, replay_cache=replay_cache)),
        "caller": Provide(bearer_claims),
    }
    if settings.test_idp:
        test_idp = _test_identity_provider(settings, client_key, providers.values())
        route_handlers.append(TestIdpController)
        dependencies["test_idp"] = _value(test_idp)

    async def start() -> None:
        await opened_custody.check(sessionmaker)  # a wrong or missing KEK stops auth here
        await token_issuer.load_keys()
        if settings.mode is Mode.LOCAL:
            await directory.seed_local_directory()
        if notifier is not None:
            nonlocal notifier_task
            notifier_task = asyncio.create_task(notifier.run_forever())

    async def stop() -> None:
        if notifier_task is not None:
            notifier_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notifier_task
        if logg_http is not None:
            await logg_http.aclose()
        await http.aclose()
        await sessions.close()
        await rate_limiter.close()
        await engine.dispose()

    return Litestar(
        route_handlers=route_handlers,
        dependencies=dependencies,
        on_startup=[start],
        on_shutdown=[stop],
        exception_handlers=problem_exception_handlers(),
        before_request=rate_limit_hook(rate_limiter, settings),
        before_send=[security_headers_hook(auth_header_policy(settings))],
        template_config=TemplateConfig(directory=_TEMPLATES, engine=JinjaTemplateEngine),
        request_max_body_size=MAX_REQUEST_BODY,
        state=State({"notifier": notifier}),
    )


def _test_identity_provider(
    settings: Settings, client_key: RSAKey, providers: Iterable[ProviderConfig]
) -> TestIdentityProvider:
    provider = TestIdentityProvider(
        issuer=settings.test_idp_issuer,
        signing_key=load_or_create_rsa_jwk(settings.test_idp_key_file, mode=settings.mode),
    )
    public_client_key = RSAKey.import_key(client_key.as_dict(private=False))
    for config in providers:
        if config.issuer == settings.test_idp_issuer:
            provider.register_client(
                RegisteredClient(
                    client_id=config.client_id,
                    keys=KeySet([public_client_key]),
                    redirect_uris=frozenset({settings.callback_url}),
                    post_logout_redirect_uris=frozenset({settings.post_logout_redirect_url}),
                    frontchannel_logout_uri=settings.frontchannel_logout_url,
                )
            )
    return provider
