"""JSON API for share links (``common/shares.py``): editors make and revoke them, viewers list them.

``POST /api/runs/{id}/shares`` with an optional JSON body ``{"expires_days": N}`` answers 201
``{"id", "url", "path", "expires_at", ...}``: ``url`` holds the token, shown this once. A body-less POST
from a signed-in browser needs the ``X-CSRF-Token`` header (``web/csrf.py``), like other body-less actions.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import audit, runs, shares
from common.errors import ValidationError
from web import csrf
from web.permissions import Access, Route, user_of, workspace_of
from web.request_body import read_json
from web.state import AppState

MAX_JSON = 4 * 1024


def _state(request: Request) -> AppState:
    return request.app.state.rg  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    """This service's address as the caller reached it (the scheme a proxy such as Cloud Run's saw)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    scheme = forwarded if forwarded in ("http", "https") else request.url.scheme
    return f"{scheme}://{request.url.netloc}"


async def _body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        await csrf.check_api_action(request)
        return {}
    body = await read_json(request, MAX_JSON)
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    return body


async def create_share(request: Request) -> JSONResponse:
    run_id = runs.run_id(request.path_params["run_id"])
    days = shares.expires_days(await _body(request))
    async with _state(request).connection() as conn:
        token, row = await shares.create(conn, workspace_of(request), run_id, user_of(request), days)
        await audit.record_request(conn, request, "share.created", str(row["id"]), {
            "run_id": run_id, "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None})
    out = {**shares.to_json(row), "path": shares.path(token), "url": base_url(request) + shares.path(token)}
    return JSONResponse(out, status_code=201, headers={"Location": f"/api/shares/{row['id']}",
                                                       "Cache-Control": "no-store"})


async def list_shares(request: Request) -> JSONResponse:
    run_id = runs.run_id(request.path_params["run_id"])
    async with _state(request).connection() as conn:
        rows = await shares.list_for_run(conn, workspace_of(request), run_id)
    return JSONResponse({"shares": [shares.to_json(r) for r in rows]})


async def revoke_share(request: Request) -> Response:
    async with _state(request).connection() as conn:
        row = await shares.revoke(conn, workspace_of(request), request.path_params["share_id"])
        await audit.record_request(conn, request, "share.revoked", str(row["id"]), {"run_id": str(row["run_id"])})
    return Response(status_code=204)


ROUTES = [
    Route("/api/runs/{run_id}/shares", create_share, methods=["POST"], access=Access.EDITOR),
    Route("/api/runs/{run_id}/shares", list_shares, methods=["GET"], access=Access.VIEWER),
    Route("/api/shares/{share_id}", revoke_share, methods=["DELETE"], access=Access.EDITOR),
]
