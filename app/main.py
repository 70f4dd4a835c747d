"""The application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig

from app import database
from app.analytics.router import admin_router as admin_analytics_router
from app.analytics.router import router as analytics_router
from app.auth.dependencies import SECURITY_SCHEMES
from app.auth.mail import make_mail_sender
from app.auth.router import router as auth_router
from app.budgets import limits
from app.budgets.router import admin_limits_router, limits_router, reservations_router
from app.conversations.router import router as conversations_router
from app.diagnostics.router import router as diagnostics_router
from app.drawings.router import router as drawings_router
from app.errors import install_error_handlers
from app.files.router import router as files_router
from app.folders.router import router as folders_router
from app.generations.router import router as generations_router
from app.health.router import router as health_router
from app.imports.router import router as imports_router
from app.imports.service import fail_interrupted
from app.jobs.rollups import fold_forever
from app.lifecycle.router import router as lifecycle_router
from app.observability import BodyLimitMiddleware, RequestContextMiddleware, configure_logging
from app.openapi import install_openapi
from app.projects.router import router as projects_router
from app.retention.router import router as retention_router
from app.routing import AreaRouter, AreaRoutes
from app.search.router import router as search_router
from app.settings import Settings, get_settings
from app.shares.router import conversation_shares, site_shares
from app.shares.router import public_router as public_shares_router
from app.shares.router import router as shares_router
from app.sites.router import public_router as public_sites_router
from app.sites.router import router as sites_router
from app.stories.router import router as stories_router
from app.streams.router import conversation_events, generation_events
from app.tags.router import router as tags_router
from app.trash.router import router as trash_router
from app.tutorials.router import router as tutorials_router
from app.usage.router import router as usage_router
from app.users.router import router as users_router
from app.webhooks.dispatcher import dispatch_forever
from app.webhooks.events import watch_subscriptions
from app.webhooks.router import router as webhooks_router
from app.workflows.router import router as workflows_router

API_PREFIX = "/api/v1"
# How often each process rereads who subscribes to message events (`app/webhooks/events.py`).
SUBSCRIPTIONS_EVERY_S = 5.0
_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await database.connect(settings)
        await fail_interrupted(settings)  # jobs of a process that stopped: failed, and said so
        folding = asyncio.create_task(fold_forever(timedelta(seconds=settings.rollup_fold_after_s)))
        background = [folding]
        background.append(asyncio.create_task(watch_subscriptions(SUBSCRIPTIONS_EVERY_S)))
        if settings.webhook_dispatch:
            background.append(asyncio.create_task(dispatch_forever(settings)))
        _freeze_startup_heap()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await database.disconnect()

    app = FastAPI(
        title="genstore",
        version="0.1.0",
        summary="A MongoDB document store for AI-generation apps",
        lifespan=lifespan,
        redirect_slashes=False,
        telemetry=None if settings.otel_enabled else _NO_TELEMETRY,
    )
    app.state.settings = settings
    limits.use_defaults(settings)
    app.state.mail_sender = make_mail_sender(settings)
    install_error_handlers(app)
    install_openapi(app, SECURITY_SCHEMES)
    # FastAPI tries routers in the order they were included; each `AreaRouter` turns away a
    # path outside its prefix at once (`app/routing.py`), and the busiest areas go first. No
    # path matches two routes (a test checks), so the order changes only how soon a request
    # finds its route.
    for router in _area_routers():
        router.include_in(app, API_PREFIX)
    for router in (public_sites_router, public_shares_router, health_router):
        router.include_in(app)
    # FastAPI added its documentation routes (`/docs`, `/openapi.json`) first: tried last, they
    # cost an API request nothing.
    app.router.routes.sort(key=lambda route: not isinstance(route, AreaRoutes))
    if settings.cors_origins:
        # The body limit inside CORS, so that a browser can read a 413.
        app.add_middleware(BodyLimitMiddleware, limit=settings.max_json_bytes)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        )
        app.add_middleware(RequestContextMiddleware)
    else:
        app.add_middleware(RequestContextMiddleware, body_limit=settings.max_json_bytes)
    return app


_frozen = False


def _freeze_startup_heap() -> None:
    """Once per process, after start-up: what start-up made (modules, models, routes, schemas)
    lives as long as the process, so it leaves the garbage collector's view. A full collection
    otherwise walks all of it again and again; an import of 10,000 messages spent about half its
    planning time in such collections (README "Performance")."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def _area_routers() -> list[AreaRouter]:
    """The area routers, busiest first (see `create_app`)."""
    return [
        conversations_router,
        usage_router,
        reservations_router,
        users_router,
        sites_router,
        files_router,
        generations_router,
        auth_router,
        projects_router,
        workflows_router,
        tutorials_router,
        drawings_router,
        stories_router,
        analytics_router,
        conversation_shares,
        site_shares,
        shares_router,
        limits_router,
        imports_router,
        search_router,
        folders_router,
        tags_router,
        webhooks_router,
        conversation_events,
        generation_events,
        trash_router,
        lifecycle_router,
        retention_router,
        diagnostics_router,
        admin_analytics_router,
        admin_limits_router,
    ]


def asgi() -> FastAPI:
    """Entry point for uvicorn (`app.main:asgi`, factory mode)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
