"""JSON API of a template's history: list the versions, read one, restore one (as a new version)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from common import audit, report_templates, template_versions
from common.errors import NotFound
from web import csrf
from web.api_templates import template_id
from web.permissions import Access, Route, user_of, workspace_of
from web.state import AppState


async def record_restored(conn: Any, request: Request, row: Mapping[str, Any], restored: int) -> None:
    """The audit event of a restore (API and history pages)."""
    await audit.record_request(conn, request, "template.restored", str(row["id"]),
                               {"name": row["name"], "restored_from": restored, "version": row["version"]})


def version_number(request: Request) -> int:
    raw = request.path_params["version"]
    number = template_versions.parse_version(raw)
    if number is None:
        raise NotFound(f"no version {raw!r}: versions are numbered from 1")
    return number


async def list_versions(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    ident = template_id(request)
    async with state.connection() as conn:
        rows = await template_versions.history(conn, workspace_of(request), ident)
    return JSONResponse({"template_id": ident, "current_version": rows[0]["version"],
                         "versions": [template_versions.summary_json(ident, r) for r in rows]})


async def get_version(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        row = await report_templates.get(conn, workspace_of(request), template_id(request), version_number(request))
    return JSONResponse(template_versions.version_json(row))


async def restore_version(request: Request) -> JSONResponse:
    """201: the new version (a copy of the old one). Needs a JSON content type or ``X-CSRF-Token``."""
    await csrf.check_api_action(request)
    state: AppState = request.app.state.rg
    ident, number = template_id(request), version_number(request)
    async with state.connection() as conn:
        made = await template_versions.restore(conn, workspace_of(request), ident, number, user_of(request))
        row = await report_templates.get(conn, workspace_of(request), ident, made)
        await record_restored(conn, request, row, number)
    return JSONResponse(template_versions.version_json(row), status_code=201,
                        headers={"Location": f"/api/templates/{ident}/versions/{made}"})


ROUTES = [
    Route("/api/templates/{template_id}/versions", list_versions, methods=["GET"], access=Access.VIEWER),
    Route("/api/templates/{template_id}/versions/{version}", get_version, methods=["GET"], access=Access.VIEWER),
    Route("/api/templates/{template_id}/versions/{version}/restore", restore_version, methods=["POST"],
          access=Access.EDITOR),
]
