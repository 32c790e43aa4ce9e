"""JSON API for templates: list, create, read (any version), edit (= a new version), archive.

``POST /api/templates/parameters/check`` runs a list of parameter declarations through the very check a
save runs (``validate_declarations``) and answers 200 with the per-field messages: the editor's parameter
builder calls it as the author types, so the page never carries a second copy of the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import audit, report_templates
from common.errors import NotFound, ValidationError
from common.report_templates import TemplateInput
from common.reports import validate_declarations
from web.permissions import Access, Route, user_of, workspace_of
from web.request_body import read_json
from web.state import AppState

MAX_BODY = 512 * 1024
MAX_CHECK_BODY = 256 * 1024


def template_id(request: Request) -> str:
    raw = request.path_params["template_id"]
    ident = report_templates.parse_id(raw)
    if ident is None:
        raise NotFound(f"no template {raw!r}: template ids are UUIDs")
    return ident


def _version(request: Request) -> int | None:
    raw = request.query_params.get("version")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise ValidationError("version: must be a positive integer", details={"version": "a positive integer"})
    return int(raw)


async def record_saved(conn: Any, request: Request, row: Mapping[str, Any]) -> None:
    """The audit event of a template saved (a new template or a new version; API and editor page)."""
    await audit.record_request(conn, request, "template.saved", str(row["id"]),
                               {"name": row["name"], "version": row["current_version"]})


async def list_templates(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await report_templates.list_templates(conn, workspace_of(request))
    return JSONResponse({"templates": [report_templates.to_json(r) for r in rows]})


async def create_template(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    new = TemplateInput.from_json(await read_json(request, MAX_BODY))
    if new.base_version is not None:
        raise ValidationError("base_version: only for edits", details={"base_version": "only for edits (PUT)"})
    async with state.connection() as conn:
        created = await report_templates.create(conn, workspace_of(request), new, author_id=user_of(request))
        assert created is not None
        row = await report_templates.get(conn, workspace_of(request), created)
        await record_saved(conn, request, row)
    return JSONResponse(report_templates.to_json(row), status_code=201,
                        headers={"Location": f"/api/templates/{created}"})


async def get_template(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    ident = template_id(request)
    async with state.connection() as conn:
        row = await report_templates.get(conn, workspace_of(request), ident, _version(request))
        versions = await report_templates.versions(conn, workspace_of(request), ident)
    body = report_templates.to_json(row)
    body["versions"] = [{"version": v["version"], "created_at": v["created_at"].isoformat()} for v in versions]
    return JSONResponse(body)


async def update_template(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    ident = template_id(request)
    edit = TemplateInput.from_json(await read_json(request, MAX_BODY))
    async with state.connection() as conn:
        await report_templates.new_version(conn, workspace_of(request), ident, edit, author_id=user_of(request))
        row = await report_templates.get(conn, workspace_of(request), ident)
        await record_saved(conn, request, row)
    return JSONResponse(report_templates.to_json(row))


async def check_parameters(request: Request) -> JSONResponse:
    """``{"parameters": [...]}`` → ``{"valid", "parameters" (as a save would store them) | null, "errors"}``.

    Bad declarations are the answer, not an error (200); only a body that is not ``{"parameters": ...}``
    is a 422. Pure CPU, no database: cheap enough to call on every keystroke of the builder."""
    data = await read_json(request, MAX_CHECK_BODY)
    if not isinstance(data, dict) or set(data) != {"parameters"}:
        raise ValidationError("send {\"parameters\": [...]}", details={"parameters": "required, alone"})
    try:
        checked = [p.to_dict() for p in validate_declarations(data["parameters"])]
    except ValidationError as exc:
        errors = exc.details if isinstance(exc.details, dict) else {"parameters": exc.message}
        return JSONResponse({"valid": False, "parameters": None, "errors": errors})
    return JSONResponse({"valid": True, "parameters": checked, "errors": {}})


async def archive_template(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        ident = template_id(request)
        await report_templates.archive(conn, workspace_of(request), ident)
        await audit.record_request(conn, request, "template.archived", ident)
    return Response(status_code=204)


ROUTES = [
    Route("/api/templates", list_templates, methods=["GET"], access=Access.VIEWER),
    Route("/api/templates", create_template, methods=["POST"], access=Access.EDITOR),
    Route("/api/templates/parameters/check", check_parameters, methods=["POST"], access=Access.EDITOR),
    Route("/api/templates/{template_id}", get_template, methods=["GET"], access=Access.VIEWER),
    Route("/api/templates/{template_id}", update_template, methods=["PUT"], access=Access.EDITOR),
    Route("/api/templates/{template_id}", archive_template, methods=["DELETE"], access=Access.EDITOR),
]
