"""``/healthz``, ``/readyz`` and ``/metrics`` of the web service."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import db
from common.errors import DatabaseUnavailable
from common.health import readiness
from common.queue_stats import read_snapshot
from web.permissions import Access, Route
from web.state import AppState


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    ok, body = await readiness(state.pool)
    return JSONResponse(body, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    """Queue depth and recent latency from the database (the web sees no worker process)."""
    state: AppState = request.app.state.rg
    try:
        async with db.translate_errors_async(), state.pool.connection(timeout=2.0) as conn:
            snapshot = await read_snapshot(conn, include_recent=True)
    except (DatabaseUnavailable, TimeoutError):
        snapshot = None
    return Response(state.metrics.render(snapshot), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/healthz", healthz, access=Access.OPEN),
    Route("/readyz", readyz, access=Access.OPEN),
    Route("/metrics", metrics, access=Access.METRICS),
]
