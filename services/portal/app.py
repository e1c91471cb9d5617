"""The portal: server-rendered pages with htmx, where plaintext exists for one request only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from services.portal.access_log import ACCESS_LOG_ROUTES
from services.portal.admin import ADMIN_ROUTES
from services.portal.auth_client import AuthClient
from services.portal.consent_routes import CONSENT_ROUTES
from services.portal.erasure import ERASURE_ROUTES
from services.portal.errors import portal_exception_handlers
from services.portal.i18n import install as install_i18n
from services.portal.i18n import load_translations, remember_locale
from services.portal.language import LANGUAGE_ROUTES
from services.portal.lifecycle import LIFECYCLE_ROUTES
from services.portal.live import LIVE_ROUTES, live_relay
from services.portal.logg_client import LoggClient
from services.portal.meeting_routes import MEETING_ROUTES
from services.portal.municipal_settings import MUNICIPAL_SETTINGS_ROUTES
from services.portal.notification_settings import NOTIFICATION_ROUTES
from services.portal.routes import ROUTES, provide_viewer
from services.portal.security_headers import security_headers_hook
from services.portal.settings import CLIENT_ID, Settings
from services.portal.stafettlogger import StafettloggService
from services.portal.youth import YOUTH_ROUTES

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_MAX_BODY = 256 * 1024


def create_app(
    settings: Settings,
    *,
    auth_transport: httpx.AsyncBaseTransport | None = None,
    logg_transport: httpx.AsyncBaseTransport | None = None,
) -> Litestar:
    """Build the portal. The transports let tests answer for auth and logg in process."""

    @asynccontextmanager
    async def clients(app: Litestar) -> AsyncIterator[None]:
        async with (
            httpx.AsyncClient(transport=auth_transport) as auth_http,
            httpx.AsyncClient(transport=logg_transport) as logg_http,
        ):
            auth = AuthClient(
                auth_http,
                auth_url=settings.auth_url,
                client_id=CLIENT_ID,
                client_key=settings.client_key,
            )
            logg = LoggClient(logg_http, logg_url=settings.logg_url)
            app.state.auth = auth
            app.state.logg = logg
            app.state.stafettlogger = StafettloggService(auth, logg)
            yield

    translations = load_translations()

    def configure_templates(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["auth_url"] = settings.auth_url
        install_i18n(engine.engine, translations)

    return Litestar(
        route_handlers=[
            *ROUTES,
            *ADMIN_ROUTES,
            *ERASURE_ROUTES,
            *NOTIFICATION_ROUTES,
            *CONSENT_ROUTES,
            *ACCESS_LOG_ROUTES,
            *LIFECYCLE_ROUTES,
            *MUNICIPAL_SETTINGS_ROUTES,
            *LIVE_ROUTES,
            *MEETING_ROUTES,
            *LANGUAGE_ROUTES,
            *YOUTH_ROUTES,
            create_static_files_router(path="/static", directories=[_HERE / "static"]),
        ],
        dependencies={"viewer": Provide(provide_viewer)},
        lifespan=[clients, live_relay(logg_transport)],
        state=State({"settings": settings, "translations": translations}),
        template_config=TemplateConfig(
            directory=_HERE / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=configure_templates,
        ),
        csrf_config=CSRFConfig(
            secret=settings.csrf_secret.hex(),
            cookie_name="csrftoken",
            header_name="x-csrftoken",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
        ),
        exception_handlers=portal_exception_handlers(),
        before_request=remember_locale,
        before_send=[security_headers_hook(settings.auth_url, settings.logout_origins)],
        request_max_body_size=_MAX_BODY,
        openapi_config=None,
    )
