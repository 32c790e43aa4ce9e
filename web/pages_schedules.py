"""Schedule pages: create one from a template's page, and a schedule's own page (``/schedules/{id}``).

The schedule's page lists its fires (run, skipped, failed) with their runs, and every delivery with its
status, attempts, last error and delivered_at; editors edit, pause, resume, delete and "run now" there
(the same operations as the JSON API, through CSRF-checked forms that redirect, so a reload repeats
nothing). The webhook secret is shown once: the create's redirect carries it in a short-lived cookie
scoped to the new schedule's page, which shows it only if it is that schedule's secret and then drops it.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import audit, deliveries, report_templates, schedules
from common.errors import Conflict, NotFound, QuotaExceeded, ValidationError
from common.schedule_times import zone
from common.sql import query
from web import csrf, schedule_forms
from web.api_templates import template_id
from web.page_render import page
from web.pages_templates import editor_page
from web.permissions import Access, Route, may, user_of, workspace_of
from web.state import AppState

SECRET_COOKIE = "rg_new_webhook_secret"
SECRET_SECONDS = 600
ACTIONS = ("pause", "resume", "run-now", "delete")


def _state(request: Request) -> AppState:
    return request.app.state.rg  # type: ignore[no-any-return]


def _details(exc: ValidationError | Conflict) -> dict[str, Any]:
    return exc.details if isinstance(exc.details, dict) else {"form": exc.message}


async def create(request: Request) -> Response:
    """``POST /templates/{id}/schedules``: a refused create shows the template page with the errors."""
    ident = template_id(request)
    form = await request.form(max_files=0, max_fields=200, max_part_size=256 * 1024)
    await csrf.check_form(request, form.get(csrf.FIELD))
    async with _state(request).connection() as conn:
        template = await report_templates.get(conn, workspace_of(request), ident)
        body = {**schedule_forms.body_from_form(form, template), "template_id": ident}
        try:
            row = await schedules.create(conn, workspace_of(request), user_of(request), body)
        except (ValidationError, Conflict) as exc:
            return await editor_page(request, template, status_code=422,
                                     schedule_values=schedule_forms.values_of(body), schedule_errors=_details(exc))
    path = f"/schedules/{row['id']}"
    response = RedirectResponse(path, status_code=303)
    response.set_cookie(SECRET_COOKIE, row["webhook_secret"], max_age=SECRET_SECONDS, path=path, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


async def _new_secret(request: Request, conn: Any, ident: str) -> str | None:
    """The secret the create's cookie carries, if it is this schedule's (a cookie cannot plant a value)."""
    offered = request.cookies.get(SECRET_COOKIE)
    if not offered:
        return None
    cur = await conn.execute(query("schedule_secret"), {"id": ident, "workspace_id": workspace_of(request)})
    row = await cur.fetchone()
    if row is None or not hmac.compare_digest(offered.encode(), str(row["webhook_secret"]).encode()):
        return None
    return offered


async def _schedule_page(request: Request, values: dict[str, Any] | None = None,
                         errors: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    ident = schedules.schedule_id(request.path_params["schedule_id"])
    workspace = workspace_of(request)
    async with _state(request).connection() as conn:
        row = await schedules.get(conn, workspace, ident)
        fires = await schedules.list_fires(conn, workspace, ident, limit=100)
        sent = await deliveries.list_for_schedule(conn, workspace, ident)
        template = await report_templates.get(conn, workspace, str(row["template_id"]))
        secret = await _new_secret(request, conn, ident)
    tz = zone(row["timezone"])
    response = await page(request, "schedule.html", {
        "schedule": row, "template": template, "fires": fires, "deliveries": sent, "webhook_secret": secret,
        "schedule_form": schedule_forms.form_context(values or schedule_forms.values_of(row), errors),
        "upcoming": schedule_forms.preview_of(row["cron"], row["timezone"]) if row["enabled"] else None,
        "can_manage": may(request, Access.EDITOR), "notice": request.query_params.get("notice", "")[:200],
        "local": lambda when: schedules.local_label(when, tz) if when else ""}, status_code=status_code)
    if request.cookies.get(SECRET_COOKIE):
        response.delete_cookie(SECRET_COOKIE, path=f"/schedules/{ident}")
    return response


async def schedule_page(request: Request) -> Response:
    return await _schedule_page(request)


async def edit(request: Request) -> Response:
    """``POST /schedules/{id}``: the edit form (the template stays; pausing is its own button)."""
    form = await request.form(max_files=0, max_fields=200, max_part_size=256 * 1024)
    await csrf.check_form(request, form.get(csrf.FIELD))
    async with _state(request).connection() as conn:
        row = await schedules.get(conn, workspace_of(request), request.path_params["schedule_id"])
        template = await report_templates.get(conn, workspace_of(request), str(row["template_id"]))
        body = schedule_forms.body_from_form(form, template, list(row["formats"]))
        try:
            await schedules.update(conn, workspace_of(request), str(row["id"]), body)
        except (ValidationError, Conflict) as exc:
            return await _schedule_page(request, schedule_forms.values_of(body), _details(exc), status_code=422)
    return _back(row, "schedule", "Saved.")


def _back(row: dict[str, Any], where: object, notice: str) -> Response:
    target = f"/templates/{row['template_id']}" if where == "template" else f"/schedules/{row['id']}"
    anchor = "#schedules" if where == "template" else ""
    return RedirectResponse(f"{target}?{urlencode({'notice': notice})}{anchor}", status_code=303)


async def action(request: Request) -> Response:
    """Pause, resume, run now, delete (``back=template`` returns to the template's page)."""
    name = request.path_params["action"]
    if name not in ACTIONS:
        raise NotFound(f"no schedule action {name!r}")
    form = await request.form(max_files=0, max_fields=10)
    await csrf.check_form(request, form.get(csrf.FIELD))
    workspace = workspace_of(request)
    async with _state(request).connection() as conn, conn.transaction():
        row = await schedules.get(conn, workspace, request.path_params["schedule_id"])
        ident = str(row["id"])
        if name == "delete":
            await schedules.delete(conn, workspace, ident)
            return _back(row, "template", "Schedule deleted.")
        if name in ("pause", "resume"):
            await schedules.update(conn, workspace, ident, {"enabled": name == "resume"})
            return _back(row, form.get("back"), "Paused." if name == "pause" else "Resumed.")
        try:
            outcome = await schedules.fire(conn, row, dt.datetime.now(dt.UTC), manual=True,
                                           quotas=_state(request).quotas)
        except QuotaExceeded as exc:
            return _back(row, form.get("back"), f"Not started: {exc.message}")
        if outcome is not None and outcome["outcome"] == "RUN":
            await audit.record_request(conn, request, "run.started", outcome["run_id"], {
                "template_id": str(row["template_id"]), "schedule_id": ident})
    if outcome is None:
        notice = "That fire was recorded already."
    elif outcome["outcome"] == "RUN":
        notice = "Run started; its deliveries follow when it finishes."
    else:
        notice = f"The run could not be made: {outcome.get('error', '')}"[:200]
    return _back(row, "schedule", notice)


ROUTES = [
    Route("/templates/{template_id}/schedules", create, methods=["POST"], access=Access.EDITOR),
    Route("/schedules/{schedule_id}", schedule_page, methods=["GET"], access=Access.VIEWER),
    Route("/schedules/{schedule_id}", edit, methods=["POST"], access=Access.EDITOR),
    Route("/schedules/{schedule_id}/{action:str}", action, methods=["POST"], access=Access.EDITOR),
]
