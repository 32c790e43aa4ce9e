"""The worker's small HTTP server on ``$PORT``: Cloud Run needs a listening port, operators need
``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import db
from common.errors import DatabaseUnavailable
from common.health import metrics_refused, metrics_token_ok, readiness
from common.queue_stats import read_snapshot
from worker.runner import Worker


def build_health_app(worker: Worker) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "worker_id": worker.worker_id,
                             "listener": "up" if worker.listener.connected else "down",
                             "in_flight": len(worker.state.running)})

    async def readyz(request: Request) -> JSONResponse:
        ok, body = await readiness(worker.pool)
        body["listener"] = "up" if worker.listener.connected else "down"
        return JSONResponse(body, status_code=200 if ok else 503)

    # Behind the supervisor's unix socket only the parent scrapes; on a TCP port METRICS_TOKEN holds.
    token = None if worker.settings.health_socket else worker.settings.metrics_token

    async def metrics(request: Request) -> Response:
        if not metrics_token_ok(request.headers.get("authorization", ""), token):
            return metrics_refused()
        snapshot = None
        try:
            async with db.translate_errors_async(), worker.pool.connection(timeout=2.0) as conn:
                snapshot = await read_snapshot(conn, include_recent=False)
        except (DatabaseUnavailable, TimeoutError):
            snapshot = None  # process metrics still answer while the database is away
        return Response(worker.metrics.render(snapshot), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)])
