"""JSON API for runs and datasets: upload a CSV, start a run, read a run.

``POST /api/runs`` takes JSON ``{template_id, parameters}`` (dataset parameters as dataset ids) or
multipart with a ``template_id`` field, an optional ``parameters`` field holding that JSON object, and
one CSV file part per dataset parameter (part name = parameter name). Multipart calls need the
``X-CSRF-Token`` header (see ``web/csrf.py``). Bad input is a 4xx JSON error and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from common import audit, jobs, report_datasets, report_templates, runs
from common.errors import PayloadTooLarge, ValidationError
from common.runs import Upload
from web import csrf
from web.permissions import Access, Route, workspace_of
from web.request_body import UnsupportedMediaType, read_form, read_json
from web.state import AppState

MAX_JSON = 256 * 1024
MAX_FILES = 10
MAX_MULTIPART = MAX_FILES * report_datasets.LIMITS.max_bytes + 1024 * 1024
MAX_DATASET_UPLOAD = report_datasets.LIMITS.max_bytes + 64 * 1024  # one file and its part headers


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_multipart(request: Request, limit: int = MAX_MULTIPART) -> FormData:
    """The form, capped at ``limit`` bytes as it streams in (chunked too), at most ``MAX_FILES`` files.
    The caller has checked CSRF already (``csrf.check_header``): nothing is parsed before that."""
    if media_type(request) != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data (or JSON where the endpoint takes JSON)")
    return await read_form(request, limit, max_files=MAX_FILES, max_fields=200)


async def file_bytes(part: UploadFile) -> bytes:
    data = await part.read(report_datasets.LIMITS.max_bytes + 1)
    if len(data) > report_datasets.LIMITS.max_bytes:
        raise PayloadTooLarge(f"{part.filename}: the CSV file is larger than "
                              f"{report_datasets.LIMITS.max_bytes // 1024} KiB")
    return data


async def upload_dataset(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    await csrf.check_header(request)
    form = await read_multipart(request, MAX_DATASET_UPLOAD)
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise ValidationError("file: attach the CSV as a file part named 'file'", details={"file": "required"})
    data = await file_bytes(part)
    filename, parsed = await report_datasets.check_upload_async(part.filename, part.content_type, data)
    async with state.connection() as conn, conn.transaction():
        row = await report_datasets.insert(conn, workspace_of(request), filename, data, parsed,
                                           quotas=state.quotas)
    return JSONResponse(report_datasets.to_json(row, parsed), status_code=201)


def _parse_parameters(raw: object) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValidationError("parameters: must be a JSON object of name → value",
                              details={"parameters": "must be a JSON object"})
    return value


def _template_id(raw: object) -> str:
    ident = report_templates.parse_id(raw)
    if ident is None:
        raise ValidationError("template_id: required, a template id (UUID)",
                              details={"template_id": "required: a template id (UUID)"})
    return ident


async def record_run_started(conn: Any, request: Request, run: dict[str, Any],
                             detail: dict[str, Any] | None = None) -> None:
    """The audit event of a run started by a person (API, run form, editor preview, schedule run-now)."""
    await audit.record_request(conn, request, "run.started", str(run["id"]),
                               {"template_id": str(run["template_id"]), **(detail or {})})


async def create_run(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    uploads: dict[str, Upload] = {}
    if media_type(request) == "multipart/form-data":
        await csrf.check_header(request)
        form = await read_multipart(request)
        template, values = _template_id(form.get("template_id")), _parse_parameters(form.get("parameters"))
        for name, part in form.multi_items():
            if isinstance(part, UploadFile):
                uploads[name] = Upload(part.filename, part.content_type, await file_bytes(part))
    else:
        body = await read_json(request, MAX_JSON)
        if not isinstance(body, dict):
            raise ValidationError("the request body must be a JSON object")
        unknown = sorted(set(body) - {"template_id", "parameters"})
        if unknown:
            raise ValidationError(f"unknown field(s): {', '.join(unknown)}",
                                  details=dict.fromkeys(unknown, "unknown field"))
        template, values = _template_id(body.get("template_id")), _parse_parameters(body.get("parameters"))
    async with state.connection() as conn:
        row = await runs.create(conn, workspace_of(request), template, values, uploads, quotas=state.quotas)
        await record_run_started(conn, request, row)
    return JSONResponse(runs.to_json(row), status_code=201, headers={"Location": f"/api/runs/{row['id']}"})


async def get_run(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        row = await runs.get(conn, workspace_of(request), runs.run_id(request.path_params["run_id"]))
    return JSONResponse(runs.to_json(row))


async def cancel(conn: Any, request: Request, run_id: str) -> tuple[dict[str, Any], bool]:
    """An editor's cancel of one run: its START_RUN job is cancelled (a running render is stopped by its
    worker), audited as ``run.cancelled``; 409 when the run has finished. Returns the run and whether
    the stop is still under way."""
    from web.api_jobs import record_job_action

    run = await runs.get(conn, workspace_of(request), run_id)
    job = await jobs.cancel(conn, workspace_of(request), str(run["job_id"]))
    await record_job_action(conn, request, "cancelled", job)
    return await runs.get(conn, workspace_of(request), run_id), job["status"] == "IN_PROGRESS"


async def cancel_run(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    await csrf.check_api_action(request)
    async with state.connection() as conn:
        row, stopping = await cancel(conn, request, runs.run_id(request.path_params["run_id"]))
    return JSONResponse(runs.to_json(row), status_code=202 if stopping else 200)


async def list_runs(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await runs.list_recent(conn, workspace_of(request), limit=50)
    return JSONResponse({"runs": [runs.to_json(r) for r in rows]})


ROUTES = [
    Route("/api/datasets", upload_dataset, methods=["POST"], access=Access.EDITOR),
    Route("/api/runs", create_run, methods=["POST"], access=Access.EDITOR),
    Route("/api/runs", list_runs, methods=["GET"], access=Access.VIEWER),
    Route("/api/runs/{run_id}", get_run, methods=["GET"], access=Access.VIEWER),
    Route("/api/runs/{run_id}/cancel", cancel_run, methods=["POST"], access=Access.EDITOR),
]
