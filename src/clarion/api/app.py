"""The FastAPI application: routers, middleware, error handlers and lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from clarion import __version__
from clarion.api.auth_throttle import FailedAuthThrottle
from clarion.api.body_limit import BodyLimitMiddleware
from clarion.api.dialects import batch, dengage, pushv2, sfmc
from clarion.api.docs_pages import install_docs_pages
from clarion.api.errors import install_error_handlers
from clarion.api.fast_sends import FastSends, send_route
from clarion.api.metrics import MetricsMiddleware
from clarion.api.openapi_types import install_typed_openapi
from clarion.api.ratelimit import KeyRateLimiter
from clarion.api.security_headers import SecurityHeadersMiddleware
from clarion.api.shared_limits import connect_shared_counts
from clarion.api.state import AppState
from clarion.api.v1 import (
    apps,
    audience_count,
    contacts,
    health,
    installations,
    preview,
    projects,
    providers,
    sends,
    templates,
)
from clarion.api.v1 import caps as frequency_caps
from clarion.api.v1 import events as engagement_events
from clarion.api.v1 import inbox as contact_inbox
from clarion.api.v1 import lists as audience_lists
from clarion.api.v1 import segments as audience_segments
from clarion.config import Settings
from clarion.delivery.runtime import DeliveryRuntime
from clarion.queue.sql import SqlJobQueue
from clarion.store.engine import create_engine
from clarion.store.migrate import upgrade
from clarion.store.secret_check import SecretHealth
from clarion.store.secrets import SecretBox, load_or_create_secret


class ClarionApp(FastAPI):
    """The FastAPI app whose every answer, server errors included, gets protection headers."""

    #: Takes the everyday send before the middleware stack (set by `create_app`).
    fast_sends: FastSends | None = None

    def build_middleware_stack(self) -> ASGIApp:
        """Put the header middleware outside the one that answers unhandled errors."""
        return SecurityHeadersMiddleware(super().build_middleware_stack())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the everyday send directly; anything else through the whole stack."""
        fast = self.fast_sends
        if fast is not None and fast.takes(scope):
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The application as every request but the everyday send meets it."""
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, migrate: bool = True, freeze_start_up: bool = False
) -> FastAPI:
    """Build the Clarion HTTP application for the given settings.

    `freeze_start_up` (for a process serving this one app) hides what start-up built
    from the garbage collector once the app is started.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.effective_database_url)
        if migrate:
            await upgrade(engine)
        secrets = SecretBox(load_or_create_secret(settings.secret_key, settings.var_dir))
        secret_health = SecretHealth(engine, secrets)
        await secret_health.start()
        queue = SqlJobQueue(engine, max_attempts=settings.job_max_attempts)
        shared = await connect_shared_counts(settings)
        app.state.clarion = AppState(
            settings=settings,
            engine=engine,
            secrets=secrets,
            queue=queue,
            rate_limiter=KeyRateLimiter(settings.rate_limit, shared),
            auth_throttle=FailedAuthThrottle(settings.auth_failure_limit, shared),
            secret_health=secret_health,
        )
        runtime = None
        if settings.inprocess_workers:
            runtime = DeliveryRuntime.from_settings(settings, engine, queue, secrets, secret_health)
            runtime.start()
            app.state.clarion.provider_health = runtime.dispatcher.observer.health
        if freeze_start_up:
            # Modules, schemas and compiled statements live as long as the process; kept
            # out of the collector's sight, full collections under load stay short.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if runtime is not None:
                await runtime.stop()
            await queue.close()
            await engine.dispose()
            if shared is not None:
                await shared.close()

    app = ClarionApp(
        title="Clarion",
        version=__version__,
        description="Self-hosted push notifications: APNs, FCM and Web Push.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs_pages(app)
    install_error_handlers(app)
    # preview before sends, so that /v1/sends/preview is not read as a send id.
    routers = (
        health,
        projects,
        apps,
        providers,
        contacts,
        installations,
        templates,
        preview,
        audience_count,
        sends,
        audience_lists,
        audience_segments,
        engagement_events,
        contact_inbox,
        frequency_caps,
        batch,
        dengage,
        pushv2,
        sfmc,
    )
    for module in routers:
        app.include_router(module.router)
    install_typed_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    # The everyday send skips the middleware layers, route matching and dependency
    # solving; it gets the middlewares' work and the application's error handlers.
    app.fast_sends = FastSends(
        app,
        app.routed,
        send_route(sends.router.routes),
        settings.max_body_bytes,
        len(app.user_middleware),
    )
    return app
