"""The worker service: health server, migrations, the worker loop, and graceful shutdown on signals."""

from __future__ import annotations

import asyncio
import logging

from common.config import Settings
from common.http_server import make_server
from common.logs import redact_url
from common.metrics import Metrics
from common.migrate import migrate_when_reachable
from common.runtime import install_stop_signals, is_transaction_pooler
from worker.health import build_health_app
from worker.registry import load_handlers
from worker.runner import Worker

log = logging.getLogger(__name__)


def build_worker(settings: Settings, url: str, metrics: Metrics | None = None) -> Worker:
    return Worker(settings, url, load_handlers(settings.handler_modules), metrics)


def warn_about_pooler(url: str) -> None:
    if is_transaction_pooler(url):
        log.warning("DATABASE_URL points at a transaction-mode pooler (port 6543): LISTEN does not work "
                    "there, so jobs start on the %s poll instead of at once; use the direct or "
                    "session-mode connection (port 5432)", "POLL_INTERVAL_SECONDS")


async def serve_worker(settings: Settings, url: str, *, with_http: bool = True) -> None:
    worker = build_worker(settings, url)
    install_stop_signals(worker.request_stop)
    warn_about_pooler(url)
    log.info("worker using database %s", redact_url(url))
    server = make_server(build_health_app(worker), settings.host, settings.port) if with_http else None
    server_task = asyncio.create_task(server.serve()) if server else None
    try:
        if await migrate_when_reachable(url, settings.default_workspace_id, worker._stopping):
            await worker.run()
    finally:
        if server is not None and server_task is not None:
            server.should_exit = True
            await server_task
