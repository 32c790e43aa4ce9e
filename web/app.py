"""The web service's Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from common import db
from common.config import Settings, listen_url
from common.examples_seed import seed_examples
from common.metrics import Metrics
from common.migrate import migrate_when_reachable
from common.reports import sandbox
from web import (
    api_datasets,
    api_jobs,
    api_members,
    api_preview,
    api_reports,
    api_runs,
    api_schedules,
    api_shares,
    api_templates,
    api_tokens,
    api_versions,
    csrf,
    health,
    openapi,
    pages,
    pages_account,
    pages_datasets,
    pages_members,
    pages_runs,
    pages_schedules,
    pages_share,
    pages_templates,
    pages_versions,
    sse,
)
from web.errors import EXCEPTION_HANDLERS
from web.permissions import Access, Mount
from web.security import SecurityHeadersMiddleware
from web.state import AppState
from web.static_assets import STATIC_DIR, VersionedStaticFiles
from web.stream_quota import OpenStreams

log = logging.getLogger(__name__)


def create_app(settings: Settings, database_url: str, *, metrics: Metrics | None = None,
               migrate: bool = True) -> Starlette:
    """Build the app; the pool opens (and migrations run) in the lifespan, not here."""
    pool = db.make_pool(database_url, min_size=1, max_size=10, name="report-generator-web")
    state = AppState(settings=settings, database_url=database_url, pool=pool, metrics=metrics or Metrics())
    # Every workspace's run events: a stream subscribes to one run id after checking it is the caller's.
    events = sse.EventHub(listen_url(settings, database_url))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=False)
        # The editor's live preview renders too.
        sandbox.open_render_pool(settings.render_pool_size, sandbox.limits_for(settings.render_memory_mb))
        stop = asyncio.Event()
        migration = asyncio.create_task(_migrate_and_seed(database_url, settings, stop)) if migrate else None
        events.start()
        try:
            yield
        finally:
            stop.set()
            await events.stop()
            if migration is not None:
                await asyncio.gather(migration, return_exceptions=True)
            await pool.close(timeout=3.0)
            if settings.render_pool_size > 0:
                await asyncio.to_thread(sandbox.close_render_pool)

    routes = [*health.ROUTES, *api_jobs.ROUTES, *openapi.ROUTES, *pages.ROUTES,
              *api_preview.ROUTES, *api_templates.ROUTES, *api_runs.ROUTES, *api_schedules.ROUTES,
              *api_reports.ROUTES, *api_shares.ROUTES, *sse.ROUTES, *csrf.ROUTES,
              *api_versions.ROUTES, *api_datasets.ROUTES, *pages_versions.ROUTES, *pages_datasets.ROUTES,
              *pages_templates.ROUTES, *pages_runs.ROUTES, *pages_schedules.ROUTES, *pages_account.ROUTES,
              *api_members.ROUTES, *api_tokens.ROUTES, *pages_members.ROUTES, *pages_share.ROUTES,
              Mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static", access=Access.OPEN)]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    middleware=[Middleware(SecurityHeadersMiddleware)])
    app.state.rg = state
    app.state.events = events
    app.state.streams = OpenStreams()  # QUOTA_STREAMS_PER_USER, counted per instance
    return app


async def _migrate_and_seed(url: str, settings: Settings, stop: asyncio.Event) -> None:
    """Migrate, then create the example templates on first start (idempotent, race-free)."""
    if await migrate_when_reachable(url, settings.default_workspace_id, stop):
        try:
            await seed_examples(url, settings.default_workspace_id)
        except Exception:
            log.exception("could not create the example templates; the service runs without them")
