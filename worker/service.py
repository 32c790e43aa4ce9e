"""The worker service: health server, migrations, the worker loop, and graceful shutdown on signals."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from common import db
from common.config import Settings, listen_url
from common.http_server import make_server, serve
from common.logs import redact_url
from common.metrics import Metrics
from common.migrate import migrate_when_reachable
from common.process_guard import leave_with_parent
from common.runtime import install_stop_signals
from worker.health import build_health_app
from worker.registry import load_handlers, load_light_types
from worker.runner import Worker

log = logging.getLogger(__name__)


# Poll interval of a worker that cannot LISTEN (its listen URL is a transaction pooler): pickup then
# waits for the poll, so it polls often; one cheap indexed claim per second per worker process.
POLL_ONLY_INTERVAL_SECONDS = 1.0


def build_worker(settings: Settings, url: str, metrics: Metrics | None = None) -> Worker:
    if db.is_transaction_pooler(listen_url(settings, url)):
        settings = replace(settings, poll_interval_seconds=min(settings.poll_interval_seconds,
                                                               POLL_ONLY_INTERVAL_SECONDS))
    return Worker(settings, url, load_handlers(settings.handler_modules), metrics,
                  light_types=load_light_types(settings.handler_modules))


def warn_about_pooler(settings: Settings, url: str) -> None:
    """Say once at start what the pooler in front of the database costs."""
    if not db.is_transaction_pooler(url):
        return
    if db.is_transaction_pooler(listen_url(settings, url)):
        log.warning("DATABASE_URL is a transaction-mode pooler and LISTEN_DATABASE_URL is not set: jobs start "
                    "on a %.0f s poll instead of at once; set LISTEN_DATABASE_URL to the direct or session-mode "
                    "connection (port 5432) for instant pickup", POLL_ONLY_INTERVAL_SECONDS)
    else:
        log.info("DATABASE_URL is a transaction-mode pooler: statements are not prepared server-side; "
                 "the listener uses LISTEN_DATABASE_URL")


async def serve_worker(settings: Settings, url: str, *, with_http: bool = True) -> None:
    if settings.worker_processes > 1:
        from worker.supervisor import serve_supervisor

        await serve_supervisor(settings, url)
        return
    worker = build_worker(settings, url)
    install_stop_signals(worker.request_stop)
    if settings.supervisor_pid is not None:
        leave_with_parent(settings.supervisor_pid, worker.request_stop)
    warn_about_pooler(settings, url)
    log.info("worker using database %s", redact_url(url))
    server = make_server(build_health_app(worker), settings.host, settings.port,
                         uds=settings.health_socket) if with_http else None
    server_task = asyncio.create_task(serve(server, settings, "worker")) if server else None
    try:
        if await migrate_when_reachable(url, settings.default_workspace_id, worker._stopping):
            await worker.run()
    finally:
        if server is not None and server_task is not None:
            server.should_exit = True
            await server_task
