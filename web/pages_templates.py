"""Template pages: list, editor (new and edit, with "Save and preview"), archive, and the run form.

The run form is generated from the template's parameter declarations: one input per parameter, typed
(number, date, choice, yes/no, text), and for a dataset either the template's sample CSV or an upload.
Errors come back beside each field (the same per-field messages as the JSON API's 422).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import audit, report_datasets, report_templates, runs, template_preview
from common.errors import Conflict, QuotaExceeded, ValidationError
from common.report_templates import TemplateInput
from common.reports.reference import reference
from common.runs import Upload
from web import csrf, schedule_forms
from web.api_runs import MAX_FILES, MAX_MULTIPART, file_bytes, record_run_started
from web.api_templates import record_saved, template_id
from web.page_render import page
from web.permissions import Access, Route, user_of, workspace_of
from web.security import csp_with_style_nonce
from web.sse import wait_until_final
from web.state import AppState

NEW_BODY = """# {{ title }}

{% set total = sales | sum("revenue") %}
Total revenue: **{{ total | number }}** over {{ sales | count }} rows.

{{ bar_chart(sales | aggregate("month", "revenue"), "month", "revenue", title="Revenue by month") }}
"""
NEW_PARAMETERS = [{"name": "title", "type": "text", "label": "Title", "default": "My report"},
                  {"name": "sales", "type": "dataset", "label": "Sales CSV", "required": True}]
# Form bodies, capped as they stream in (web/request_body.py): the editor's fields (a 200,000-character
# body is at most 800 KB of UTF-8, percent-encoded up to 3x), and the small forms (archive).
MAX_EDITOR_FORM = 4 * 1024 * 1024
MAX_SMALL_FORM = 16 * 1024


async def list_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await report_templates.list_templates(conn, workspace_of(request))
    return await page(request, "templates.html", {"templates": rows})


def _editor_form(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The editor's fields as the API's JSON; a parameters text that is not JSON is a field error."""
    errors: dict[str, str] = {}
    raw = str(form.get("parameters") or "[]")
    try:
        parameters = json.loads(raw)
    except ValueError as exc:
        parameters = []
        errors["parameters"] = f"Not valid JSON: {exc}"
    data: dict[str, Any] = {"name": form.get("name") or "", "description": form.get("description") or "",
                            "body": str(form.get("body") or "").replace("\r\n", "\n"), "parameters": parameters}
    if form.get("samples") is not None:  # sent by the parameter builder (JS); absent: keep the samples
        try:
            data["samples"] = json.loads(str(form.get("samples") or "{}"))
        except ValueError:
            errors["samples"] = "Not valid JSON."
    base = str(form.get("base_version") or "")
    if base.isdigit():
        data["base_version"] = int(base)
    return data, errors


async def editor_page(request: Request, template: dict[str, Any] | None, data: dict[str, Any] | None = None,
                      errors: dict[str, str] | None = None, status_code: int = 200, *,
                      schedule_values: dict[str, Any] | None = None,
                      schedule_errors: dict[str, Any] | None = None) -> Response:
    """The editor; for a saved template, with its "Schedules" section (``schedule_*``: a refused create)."""
    if data is None:
        source = template or {"name": "", "description": "", "body": NEW_BODY, "parameters": NEW_PARAMETERS}
        data = {**source, "parameters": source["parameters"]}
    params_text = data["parameters"] if isinstance(data["parameters"], str) else json.dumps(
        data["parameters"], indent=2)
    sent = data.get("samples")  # a form sent back with errors keeps the samples uploaded meanwhile
    source_samples = sent if isinstance(sent, dict) else (template or {}).get("sample_datasets") or {}
    samples = {k: str(v) for k, v in source_samples.items() if report_datasets.dataset_id(v)}
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        columns = await template_preview.sample_columns(conn, workspace_of(request), samples)
        described = await report_datasets.describe(conn, workspace_of(request), samples.values())
        scheduled = await schedule_forms.section(conn, request, str(template["id"]), schedule_values,
                                                 schedule_errors) if template else {}
    entries = reference()
    editor_data = {
        "template_id": str(template["id"]) if template else None, "samples": samples, "columns": columns,
        "filters": [e.to_dict() for e in entries if e.kind in ("filter", "jinja filter")],
        "helpers": [e.to_dict() for e in entries if e.kind == "helper"],
        "parameters": [p.get("name") for p in data["parameters"] if isinstance(p, dict)]
        if isinstance(data["parameters"], list) else [],
        "sample_files": {k: described[v]["filename"] for k, v in samples.items() if v in described}}
    nonce = secrets.token_urlsafe(18)
    response = await page(request, "template_edit.html", {
        "template": template, "data": data, "parameters_text": params_text, "errors": errors or {},
        "editor_data": editor_data, "reference": entries, "columns": columns, "style_nonce": nonce, **scheduled},
        status_code=status_code)
    response.headers["Content-Security-Policy"] = csp_with_style_nonce(nonce)
    return response


async def new_page(request: Request) -> Response:
    return await editor_page(request, None)


async def edit_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        template = await report_templates.get(conn, workspace_of(request), template_id(request))
    return await editor_page(request, template)


async def save(request: Request) -> Response:
    """Create (``/templates``) or edit (``/templates/{id}``); "preview" then starts a run with defaults."""
    state: AppState = request.app.state.rg
    form = await csrf.read_checked_form(request, MAX_EDITOR_FORM, max_fields=20, max_part_size=512 * 1024)
    data, errors = _editor_form(form)
    ident = template_id(request) if "template_id" in request.path_params else None
    async with state.connection() as conn:
        template = await report_templates.get(conn, workspace_of(request), ident) if ident else None
        try:
            edit = TemplateInput.from_json({k: v for k, v in data.items() if k != "samples"})
            if errors:
                raise ValidationError("invalid", details=errors)
            samples = await report_templates.check_samples(conn, workspace_of(request), edit.parameters,
                                                           data["samples"]) if "samples" in data else None
            if ident is None:
                ident = await report_templates.create(conn, workspace_of(request), edit, author_id=user_of(request))
                assert ident is not None
                await record_saved(conn, request, await report_templates.get(conn, workspace_of(request), ident))
            elif _changed(template, edit):
                await report_templates.new_version(conn, workspace_of(request), ident, edit,
                                                   author_id=user_of(request))
                await record_saved(conn, request, await report_templates.get(conn, workspace_of(request), ident))
            if samples is not None:
                await report_templates.set_samples(conn, workspace_of(request), ident, samples)
        except (ValidationError, Conflict) as exc:
            details = exc.details if isinstance(exc.details, dict) else {"form": exc.message}
            return await editor_page(request, template, data, {**details, **errors}, status_code=422)
        if form.get("action") != "preview":
            return RedirectResponse(f"/templates/{ident}", status_code=303)
        current = await report_templates.get(conn, workspace_of(request), ident)
        try:
            run = await runs.create(conn, workspace_of(request), ident, _default_values(current),
                                    quotas=state.quotas)
        except ValidationError:
            return RedirectResponse(f"/templates/{ident}/run", status_code=303)  # it needs the user's input
        except QuotaExceeded as exc:  # saved; the preview run waits: say so on the editor
            response = await editor_page(request, current, None,
                                         {"form": f"Saved, but not previewed: {exc.message}"}, status_code=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        await record_run_started(conn, request, run)
    return await redirect_to_run(request, str(run["id"]))


async def redirect_to_run(request: Request, run_id: str) -> Response:
    """303 to the run page, once the run finished or ``RUN_PAGE_WAIT_SECONDS`` passed (``wait_until_final``)."""
    state: AppState = request.app.state.rg
    await wait_until_final(request, run_id, state.settings.run_page_wait_seconds)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


def _changed(template: dict[str, Any] | None, edit: TemplateInput) -> bool:
    """A save without changes (e.g. "preview" again) does not make a new version."""
    if template is None:
        return True
    return (template["name"], template["description"], template["body"], template["parameters"]) != (
        edit.name, edit.description, edit.body, edit.parameters)


def _default_values(template: dict[str, Any]) -> dict[str, Any]:
    samples = template.get("sample_datasets") or {}
    return {p["name"]: samples[p["name"]] for p in template["parameters"]
            if p["type"] == "dataset" and p["name"] in samples}


async def archive(request: Request) -> Response:
    state: AppState = request.app.state.rg
    await csrf.read_checked_form(request, MAX_SMALL_FORM, max_fields=5)
    async with state.connection() as conn:
        ident = template_id(request)
        await report_templates.archive(conn, workspace_of(request), ident)
        await audit.record_request(conn, request, "template.archived", ident)
    return RedirectResponse("/templates", status_code=303)


async def _run_form(request: Request, template: dict[str, Any], values: dict[str, Any] | None = None,
                    errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    state: AppState = request.app.state.rg
    samples = template.get("sample_datasets") or {}
    async with state.connection() as conn:
        described = await report_datasets.describe(conn, workspace_of(request), samples.values())
    sample_files = {name: described.get(ident) for name, ident in samples.items()}
    return await page(request, "run_form.html", {
        "template": template, "values": values or {}, "errors": errors or {}, "samples": samples,
        "sample_files": sample_files}, status_code=status_code)


async def run_form(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        template = await report_templates.get(conn, workspace_of(request), template_id(request))
    return await _run_form(request, template)


async def start_run(request: Request) -> Response:
    state: AppState = request.app.state.rg
    ident = template_id(request)
    form = await csrf.read_checked_form(request, MAX_MULTIPART, max_files=MAX_FILES, max_fields=200)
    values: dict[str, Any] = {}
    uploads: dict[str, Upload] = {}
    for key, value in form.multi_items():
        if key.startswith("p.") and isinstance(value, str):
            values[key[2:]] = value  # the last value wins: a checkbox after its hidden "false"
        elif key.startswith("file.") and isinstance(value, UploadFile) and value.filename:
            uploads[key[5:]] = Upload(value.filename, value.content_type, await file_bytes(value))
    async with state.connection() as conn:
        template = await report_templates.get(conn, workspace_of(request), ident)
        try:
            run = await runs.create(conn, workspace_of(request), ident, values, uploads, quotas=state.quotas)
        except QuotaExceeded as exc:
            response = await _run_form(request, template, values, {"form": exc.message}, status_code=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except (ValidationError, Conflict) as exc:
            details = exc.details if isinstance(exc.details, dict) else {"form": exc.message}
            return await _run_form(request, template, values, details, status_code=422)
        await record_run_started(conn, request, run)
    return await redirect_to_run(request, str(run["id"]))


ROUTES = [
    Route("/templates", list_page, methods=["GET"], access=Access.VIEWER),
    Route("/templates", save, methods=["POST"], access=Access.EDITOR),
    Route("/templates/new", new_page, methods=["GET"], access=Access.EDITOR),
    Route("/templates/{template_id}", edit_page, methods=["GET"], access=Access.VIEWER),
    Route("/templates/{template_id}", save, methods=["POST"], access=Access.EDITOR),
    Route("/templates/{template_id}/archive", archive, methods=["POST"], access=Access.EDITOR),
    Route("/templates/{template_id}/run", run_form, methods=["GET"], access=Access.EDITOR),
    Route("/templates/{template_id}/run", start_run, methods=["POST"], access=Access.EDITOR),
]
