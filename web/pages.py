"""HTML pages (Jinja2, server-rendered, no build step)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from common import jobs
from common.jobs import JobStatus
from web.state import AppState

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


async def home(request: Request) -> Response:
    return RedirectResponse("/jobs", status_code=303)


async def jobs_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    status = request.query_params.get("status") or None
    if status not in JobStatus.__members__:
        status = None
    job_type = request.query_params.get("type") or None
    if job_type is not None and not jobs.TYPE_PATTERN.match(job_type):
        job_type = None
    async with state.connection() as conn:
        rows = await jobs.list_jobs(conn, state.workspace_id, status=status, job_type=job_type, limit=100)
        counts = await (await conn.execute(
            "SELECT status, count(*) AS n FROM jobs WHERE workspace_id = %s AND status IN "
            "('QUEUED', 'IN_PROGRESS') GROUP BY status", (state.workspace_id,))).fetchall()
    return TEMPLATES.TemplateResponse(request, "jobs.html", {
        "jobs": rows, "status": status, "type": job_type, "statuses": list(JobStatus),
        "counts": {r["status"]: r["n"] for r in counts},  # type: ignore[call-overload]
    })


ROUTES = [Route("/", home), Route("/jobs", jobs_page)]
