"""The logg application: `create_app(settings)` wires settings, database, tokens and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from redis.asyncio import Redis

from services.logg.access import NOTIFIER_AUDIENCE, Policy
from services.logg.audit import publish_heads_periodically
from services.logg.authentication import (
    BearerTokenMiddleware,
    LazyRemoteKeySource,
    LazyReplayCache,
    provide_caller,
    replay_cache_for,
)
from services.logg.database import Database, provide_session
from services.logg.events import EventBus
from services.logg.feed import NotificationFeedController
from services.logg.routes import (
    BEARER_SCHEME,
    Base64BytesSchema,
    DueMeasuresController,
    StafettloggController,
    app_state,
    audit_signer,
    domain_dependencies,
    healthz,
)
from services.logg.settings import Settings
from services.logg.streams import LiveStreams, stream_events
from shared.problems import problem_exception_handlers
from shared.tokens import KeySetSource, ServiceTokenVerifier

__all__ = ["create_app"]


def create_app(settings: Settings, *, key_source: KeySetSource | None = None) -> Litestar:
    """The logg app. `key_source` replaces auth's remote JWKS (tests inject a static key set);
    by default the JWKS is fetched from `settings.auth_jwks_url` with a client opened in the
    app's lifespan. The schema must already be migrated (services.logg.database.migrate)."""
    remote: LazyRemoteKeySource | None = None
    if key_source is None:
        remote = LazyRemoteKeySource()
        key_source = remote
    replay_cache = LazyReplayCache()
    signer = audit_signer(settings)
    policy = Policy(consent_required=settings.require_consent)
    live = LiveStreams(EventBus())  # live updates (services.logg.streams)
    verifier = ServiceTokenVerifier(
        issuer=settings.auth_url,
        audience=settings.audience,
        key_source=key_source,
        replay_cache=replay_cache,
    )
    # auth's notifier has a token audience of its own: the middleware's verifier (stafett-logg)
    # refuses it everywhere, and only the feed (services.logg.feed) checks it, with this one.
    notifier_verifier = ServiceTokenVerifier(
        issuer=settings.auth_url,
        audience=NOTIFIER_AUDIENCE,
        key_source=key_source,
        replay_cache=replay_cache,
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = Database(settings.database_url)
        app.state.database = database
        redis = Redis.from_url(settings.replay_redis_url) if settings.replay_redis_url else None
        replay_cache.attach(
            replay_cache_for(
                database_url=settings.database_url, engine=database.engine, redis=redis
            )
        )
        # Signed heads of the access log, published on a schedule (services.logg.audit).
        publisher = asyncio.create_task(
            publish_heads_periodically(database.sessions, signer, settings.head_interval),
            name="logg-signed-heads",
        )
        background = [publisher]
        if database.checkpointer is not None:
            background.append(
                asyncio.create_task(database.checkpointer.run(), name="logg-wal-checkpoints")
            )
        if redis is not None:
            live.bus.attach_redis(redis)  # several instances: events go through Redis
        # What exists now lives as long as the app: out of the garbage collector's sight
        # (gc.freeze), a full collection walks only what requests made, not the ~150 000
        # objects of the app, its libraries and modules, which took ~100 ms once every few
        # thousand requests: a pause every request in flight waited out (docs/performance.md).
        gc.freeze()
        try:
            if remote is None:
                yield
                return
            async with httpx.AsyncClient(follow_redirects=False) as client:
                remote.attach(settings.auth_jwks_url, client)
                try:
                    yield
                finally:
                    remote.detach()
        finally:
            gc.unfreeze()  # collectable again once the app is gone (tests start many apps)
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await live.bus.close()
            replay_cache.detach()
            if redis is not None:
                await redis.aclose()
            await database.close()

    return Litestar(
        route_handlers=[
            StafettloggController,
            DueMeasuresController,
            NotificationFeedController,
            stream_events,
            healthz,
        ],
        dependencies={
            "caller": Provide(provide_caller, sync_to_thread=False),
            "live": Provide(lambda: live, sync_to_thread=False),
            "session": Provide(provide_session),
            **domain_dependencies(policy, signer),
            "notifier_verifier": Provide(lambda: notifier_verifier, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(
                BearerTokenMiddleware,
                verifier=verifier,
                exclude=["^/healthz$", "^/schema", "^/notifications/"],
            )
        ],
        lifespan=[lifespan],
        state=app_state(policy, live),
        plugins=[Base64BytesSchema()],
        exception_handlers=problem_exception_handlers(),
        request_max_body_size=settings.max_body,
        openapi_config=OpenAPIConfig(
            title="Stafettlogg logg API",
            version="1.0.0",
            description=(
                "The store of stafettlogger: sealed entries, participants and key grants. "
                "Ciphertext only; errors are application/problem+json (RFC 9457)."
            ),
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    BEARER_SCHEME: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT (EdDSA, audience stafett-logg, issued by auth)",
                    )
                }
            ),
        ),
        debug=False,
    )
