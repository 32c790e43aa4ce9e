"""HTML pages (Jinja2, server-rendered, no build step): the dashboard and the operators' jobs view.

Forms post back to page routes with a CSRF token (``web/csrf.py``) and redirect (303) on success, so
a reload never repeats an action.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import jobs, queue_stats, report_templates, runs
from common.errors import Conflict, NotFound
from common.jobs import JobStatus
from web import csrf
from web.api_jobs import record_job_action
from web.page_render import TEMPLATES, page
from web.permissions import Access, Route, workspace_of
from web.state import AppState

__all__ = ["ROUTES", "TEMPLATES"]


async def _queue_counts(conn: AsyncConnection, workspace_id: str) -> dict[str, str]:
    """The live counts as the pages show them: exact up to the cap, "10,000+" above (docs/operations.md)."""
    counts = await queue_stats.workspace_queue_counts(conn, workspace_id)
    return {status: queue_stats.count_label(counts.get(status, 0)) for status in ("QUEUED", "IN_PROGRESS")}


async def home(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        recent = await runs.list_recent(conn, workspace_of(request), limit=15)
        templates = await report_templates.list_templates(conn, workspace_of(request), limit=8)
        counts = await _queue_counts(conn, workspace_of(request))
        failed = await jobs.list_jobs(conn, workspace_of(request), status="FAILED", limit=5)
    return await page(request, "home.html", {"runs": recent, "templates": templates, "counts": counts,
                                             "failed_jobs": failed})


async def jobs_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    status = request.query_params.get("status") or None
    if status not in JobStatus.__members__:
        status = None
    job_type = request.query_params.get("type") or None
    if job_type is not None and not jobs.TYPE_PATTERN.match(job_type):
        job_type = None
    async with state.connection() as conn:
        rows = await jobs.list_jobs(conn, workspace_of(request), status=status, job_type=job_type, limit=100)
        counts = await _queue_counts(conn, workspace_of(request))
        handled = await jobs.handled_types(conn)
    unhandled = sorted({r["type"] for r in rows if r["status"] == JobStatus.QUEUED and r["type"] not in handled})
    return await page(request, "jobs.html", {
        "jobs": rows, "status": status, "type": job_type, "statuses": list(JobStatus), "counts": counts,
        "handled": handled, "unhandled": unhandled, "notice": request.query_params.get("notice", "")[:200]})


async def job_page(request: Request) -> Response:
    """One job: its row and every attempt's worker, times, outcome and error."""
    state: AppState = request.app.state.rg
    try:
        job_id = str(uuid.UUID(request.path_params["job_id"]))
    except ValueError:
        raise NotFound("no such job") from None
    async with state.connection() as conn:
        row = await jobs.get(conn, workspace_of(request), job_id)
        history = await jobs.attempt_history(conn, job_id)
    return await page(request, "job.html", {"job": row, "history": history})


async def job_action(request: Request) -> Response:
    """The jobs view's Retry and Cancel buttons (the same operations as the JSON API)."""
    state: AppState = request.app.state.rg
    await csrf.read_checked_form(request, 16 * 1024, max_fields=10)
    try:
        job_id = str(uuid.UUID(request.path_params["job_id"]))
    except ValueError:
        raise NotFound("no such job") from None
    action = request.path_params["action"]
    if action not in ("retry", "cancel"):
        raise NotFound(f"no job action {action!r}")
    try:
        async with state.connection() as conn:
            if action == "retry":
                await record_job_action(conn, request, "retried", await jobs.retry(conn, workspace_of(request), job_id))
            else:
                await record_job_action(conn, request, "cancelled",
                                        await jobs.cancel(conn, workspace_of(request), job_id))
        notice = f"Job {job_id[:8]}: " + ("retried" if action == "retry" else "cancel requested")
    except Conflict as exc:
        notice = exc.message
    return RedirectResponse("/jobs?" + urlencode({"notice": notice}), status_code=303)


ROUTES = [
    Route("/", home, access=Access.VIEWER),
    Route("/jobs", jobs_page, access=Access.ADMIN),
    Route("/jobs/{job_id}", job_page, access=Access.ADMIN),
    Route("/jobs/{job_id}/{action:str}", job_action, methods=["POST"], access=Access.ADMIN),
]
