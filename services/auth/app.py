"""auth's application factory: wires settings, stores and routes; nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import KeySet, RSAKey
from litestar import Litestar
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.auth.clients import ClientAuthenticator
from services.auth.custody import LocalKek
from services.auth.directory import DirectoryController, DirectoryService
from services.auth.exchange import exchange_token, session_context
from services.auth.health import healthz
from services.auth.jwk_files import load_or_create_rsa_jwk
from services.auth.login import LoginService, callback, login, logout, logout_done
from services.auth.oidc import LoginKind, ProviderConfig, RelyingParty
from services.auth.sessions import SessionStore
from services.auth.settings import AUTH_AUDIENCE, PORTAL_CLIENT_ID, Settings
from services.auth.test_idp.provider import (
    RegisteredClient,
    TestIdentityProvider,
    TestIdpController,
)
from services.auth.tokens import ServiceTokenIssuer, bearer_claims, jwks
from shared.db import create_engine
from shared.problems import problem_exception_handlers
from shared.settings import Mode, SettingsError, load_or_create_secret

__all__ = ["MAX_REQUEST_BODY", "create_app"]

MAX_REQUEST_BODY = 64 * 1024
_TEMPLATES = Path(__file__).parent / "templates"


def _value(value: Any) -> Provide:
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def create_app(
    settings: Settings, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> Litestar:
    """Build auth. `http_transport` routes the relying party's outgoing HTTP (discovery, PAR,
    token, JWKS) elsewhere, e.g. into this very app in tests; by default it uses the network.
    Raises SettingsError if a secret is missing in production or the test IdP is asked for
    there. The database must already be migrated (services.auth.database.migrate)."""
    if settings.mode is Mode.PRODUCTION and settings.test_idp:
        raise SettingsError("the test identity provider is refused in production mode")
    custody = LocalKek(load_or_create_secret(settings.kek_file, mode=settings.mode))
    pid_hmac_key = load_or_create_secret(settings.pid_hmac_key_file, mode=settings.mode)
    client_key = load_or_create_rsa_jwk(settings.client_key_file, mode=settings.mode)

    engine = create_engine(settings.database_url)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    http = httpx.AsyncClient(transport=http_transport, follow_redirects=False)

    directory = DirectoryService(sessionmaker, custody, pid_hmac_key)
    sessions = SessionStore(
        sessionmaker,
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
    )
    token_issuer = ServiceTokenIssuer(sessionmaker, custody, issuer=settings.auth_url)
    clients = ClientAuthenticator(
        sessionmaker,
        client_id=PORTAL_CLIENT_ID,
        jwks_file=settings.portal_client_jwks_file,
        audiences=[settings.auth_url, f"{settings.auth_url}/token"],
    )
    providers: dict[LoginKind, ProviderConfig] = {
        "guardian": ProviderConfig(
            "guardian", settings.idporten_issuer, settings.idporten_client_id, settings.guardian_acr
        ),
        "staff": ProviderConfig(
            "staff",
            settings.ansattporten_issuer,
            settings.ansattporten_client_id,
            settings.staff_acr,
        ),
    }
    relying_party = RelyingParty(
        providers, client_key=client_key, redirect_uri=settings.callback_url, http=http
    )
    login_service = LoginService(settings, sessionmaker, relying_party, directory, sessions)

    route_handlers: list[Any] = [
        login,
        callback,
        logout,
        logout_done,
        exchange_token,
        session_context,
        jwks,
        healthz,
        DirectoryController,
    ]
    dependencies = {
        "settings": _value(settings),
        "engine": _value(engine),
        "directory": _value(directory),
        "sessions": _value(sessions),
        "token_issuer": _value(token_issuer),
        "clients": _value(clients),
        "login_service": _value(login_service),
        "auth_verifier": _value(token_issuer.verifier(AUTH_AUDIENCE)),
        "caller": Provide(bearer_claims),
    }
    if settings.test_idp:
        test_idp = _test_identity_provider(settings, client_key, providers.values())
        route_handlers.append(TestIdpController)
        dependencies["test_idp"] = _value(test_idp)

    async def start() -> None:
        await token_issuer.load_keys()
        if settings.mode is Mode.LOCAL:
            await directory.seed_local_directory()

    async def stop() -> None:
        await http.aclose()
        await engine.dispose()

    return Litestar(
        route_handlers=route_handlers,
        dependencies=dependencies,
        on_startup=[start],
        on_shutdown=[stop],
        exception_handlers=problem_exception_handlers(),
        template_config=TemplateConfig(directory=_TEMPLATES, engine=JinjaTemplateEngine),
        request_max_body_size=MAX_REQUEST_BODY,
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
                )
            )
    return provider
