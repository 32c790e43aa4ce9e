"""JSON API for schedules (DESIGN.md "Schedules and deliveries"): viewers read, editors write.

``POST /api/schedules`` answers the schedule with ``webhook_secret`` (shown this once; the receiver
verifies ``X-Reportgen-Signature`` with it). ``GET /api/schedules/preview?cron=&timezone=`` answers the
next five fire times, computed here in the schedule's zone (the page calls it as the cron is typed).
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import audit, deliveries, schedules
from common.errors import NotFound
from web.permissions import Access, Route, user_of, workspace_of
from web.request_body import read_json
from web.state import AppState

MAX_JSON = 64 * 1024


def _state(request: Request) -> AppState:
    return request.app.state.rg  # type: ignore[no-any-return]


async def create_schedule(request: Request) -> JSONResponse:
    body = await read_json(request, MAX_JSON)
    async with _state(request).connection() as conn:
        row = await schedules.create(conn, workspace_of(request), user_of(request), body)
    return JSONResponse(schedules.to_json(row), status_code=201, headers={"Location": f"/api/schedules/{row['id']}"})


async def list_schedules(request: Request) -> JSONResponse:
    template = request.query_params.get("template_id") or None
    if template is not None:
        try:
            template = schedules.schedule_id(template)
        except NotFound:
            return JSONResponse({"schedules": []})
    async with _state(request).connection() as conn:
        rows = await schedules.list_schedules(conn, workspace_of(request), template)
    return JSONResponse({"schedules": [schedules.to_json(r) for r in rows]})


async def get_schedule(request: Request) -> JSONResponse:
    async with _state(request).connection() as conn:
        row = await schedules.get(conn, workspace_of(request), request.path_params["schedule_id"])
        fires = await schedules.list_fires(conn, workspace_of(request), str(row["id"]), limit=50)
    return JSONResponse({**schedules.to_json(row), "fires": [schedules.to_json(f) for f in fires]})


async def update_schedule(request: Request) -> JSONResponse:
    body = await read_json(request, MAX_JSON)
    async with _state(request).connection() as conn:
        row = await schedules.update(conn, workspace_of(request), request.path_params["schedule_id"], body)
    return JSONResponse(schedules.to_json(row))


async def delete_schedule(request: Request) -> Response:
    async with _state(request).connection() as conn:
        await schedules.delete(conn, workspace_of(request), request.path_params["schedule_id"])
    return Response(status_code=204)


async def run_now(request: Request) -> JSONResponse:
    """Fire at once, outside the cron (recorded as a manual fire; delivered like any other)."""
    async with _state(request).connection() as conn, conn.transaction():
        row = await schedules.get(conn, workspace_of(request), request.path_params["schedule_id"])
        outcome = await schedules.fire(conn, row, dt.datetime.now(dt.UTC), manual=True,
                                       quotas=_state(request).quotas)
        if outcome is not None and outcome["outcome"] == "RUN":
            await audit.record_request(conn, request, "run.started", outcome["run_id"], {
                "template_id": str(row["template_id"]), "schedule_id": str(row["id"])})
    if outcome is None:  # the same microsecond twice: nothing new was made
        return JSONResponse({"outcome": "DUPLICATE"}, status_code=409)
    return JSONResponse(outcome, status_code=202 if outcome["outcome"] == "RUN" else 200)


async def list_deliveries(request: Request) -> JSONResponse:
    async with _state(request).connection() as conn:
        row = await schedules.get(conn, workspace_of(request), request.path_params["schedule_id"])
        rows = await deliveries.list_for_schedule(conn, workspace_of(request), str(row["id"]))
    return JSONResponse({"deliveries": [deliveries.to_json(r) for r in rows]})


async def preview(request: Request) -> JSONResponse:
    return JSONResponse(schedules.preview(request.query_params.get("cron"), request.query_params.get("timezone")))


ROUTES = [
    Route("/api/schedules", create_schedule, methods=["POST"], access=Access.EDITOR),
    Route("/api/schedules", list_schedules, methods=["GET"], access=Access.VIEWER),
    Route("/api/schedules/preview", preview, methods=["GET"], access=Access.VIEWER),
    Route("/api/schedules/{schedule_id}", get_schedule, methods=["GET"], access=Access.VIEWER),
    Route("/api/schedules/{schedule_id}", update_schedule, methods=["PATCH"], access=Access.EDITOR),
    Route("/api/schedules/{schedule_id}", delete_schedule, methods=["DELETE"], access=Access.EDITOR),
    Route("/api/schedules/{schedule_id}/run-now", run_now, methods=["POST"], access=Access.EDITOR),
    Route("/api/schedules/{schedule_id}/deliveries", list_deliveries, methods=["GET"], access=Access.VIEWER),
]
