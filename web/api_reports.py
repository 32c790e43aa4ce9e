"""``GET /api/runs/{id}/report?format=html|pdf|md|csv``: a finished run's report, inline or as a download.

- ``html`` (inline; ``?download=1`` for an attachment), ``md`` and ``csv`` are cheap, linear transforms of
  the stored render, made here in a thread, unless the worker stored one (``EXPORT``) already.
- ``pdf`` is laid out by the worker only (seconds of CPU must not stall the web): served from
  ``run_exports``. START_RUN enqueues it when the run completes, so it is usually there; if not, this
  enqueues ``EXPORT`` (deduplicated; a failed one is retried) and waits up to ``PDF_WAIT_SECONDS`` on the
  event hub, then answers ``202`` with ``Retry-After`` and the job, for the client to ask again. A PDF
  that broke its limits (``run_export_failures``) answers ``422 export_refused`` with the reason, and is
  not re-queued.
Reports are served with their own strict CSP: no script at all, styles only inline (the report's
stylesheet), images only data URIs, and ``sandbox``, so even an unsanitised byte could not run script.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import jobs, runs
from common.errors import Conflict, ExportRefusedError, ValidationError
from common.reports import FORMATS, RenderResult, export_report
from common.sql import query
from web.permissions import Access, Route, workspace_of
from web.sse import EventHub, wait_for_change
from web.state import AppState

PDF_WAIT_SECONDS = 20.0
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox")


def _download_headers(filename: str, attachment: bool) -> dict[str, str]:
    kind = "attachment" if attachment else "inline"
    return {"Content-Disposition": f'{kind}; filename="{filename}"', "Content-Security-Policy": REPORT_CSP,
            "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "private, max-age=300"}


async def _stored(state: AppState, workspace: str, run_id: str, fmt: str,
                  attachment: bool = True) -> Response | None:
    async with state.connection() as conn:
        cur = await conn.execute(query("run_export_get"), {"id": run_id, "workspace_id": workspace,
                                                           "format": fmt})
        row = await cur.fetchone()
    if row is None:
        return None
    return Response(bytes(row["data"]), media_type=row["media_type"],  # type: ignore[call-overload]
                    headers=_download_headers(row["filename"], attachment))  # type: ignore[call-overload]


async def _raise_if_refused(state: AppState, workspace: str, run_id: str, fmt: str) -> None:
    """A download that broke its limits once is refused with its reason, never re-queued."""
    async with state.connection() as conn:
        cur = await conn.execute(query("run_export_failure_get"), {"id": run_id, "workspace_id": workspace,
                                                                   "format": fmt})
        row = await cur.fetchone()
    if row is not None:
        raise ExportRefusedError(row["message"], details={"format": fmt, "kind": row["kind"]})  # type: ignore[call-overload]


async def _request_pdf(state: AppState, hub: EventHub, workspace: str, run_id: str) -> Response:
    """Enqueue (or revive) the PDF export and wait briefly for it."""
    queue = hub.subscribe(run_id)
    try:
        async with state.connection() as conn:
            job, _ = await jobs.enqueue(conn, workspace, runs.export_job(run_id, "pdf", state.settings))
            if job["status"] in ("FAILED", "CANCELLED"):
                job = await jobs.retry(conn, workspace, str(job["id"]))
        deadline = time.monotonic() + PDF_WAIT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            found = await _stored(state, workspace, run_id, "pdf")
            if found is not None:
                return found
            await _raise_if_refused(state, workspace, run_id, "pdf")
            await wait_for_change(hub, queue, min(left, 1.0))
    finally:
        hub.unsubscribe(run_id, queue)
    return JSONResponse({"status": "generating", "job_id": str(job["id"]),
                         "message": "the PDF is being made; ask again shortly"},
                        status_code=202, headers={"Retry-After": "2"})


async def report(request: Request) -> Response:
    return await serve_report(request, workspace_of(request), runs.run_id(request.path_params["run_id"]))


async def serve_report(request: Request, workspace: str, run_id: str) -> Response:
    """A run's report in ``?format=`` (``&download=1`` for an HTML attachment): the API's download, and a
    share link's (``web/pages_share.py``), which names the run and workspace by its token instead."""
    state: AppState = request.app.state.rg
    fmt = request.query_params.get("format", "html")
    if fmt not in FORMATS:
        raise ValidationError(f"format: must be one of {', '.join(FORMATS)}",
                              details={"format": f"one of {', '.join(FORMATS)}"})
    async with state.connection() as conn:
        run = await runs.get(conn, workspace, run_id)
    if run["status"] != "COMPLETED":
        raise Conflict(f"run {run_id} is {run['status']}: it has no report" +
                       ("" if run["status"] in runs.FINAL else " yet"))
    attachment = fmt != "html" or request.query_params.get("download") == "1"
    stored = await _stored(state, workspace, run_id, fmt, attachment)
    if stored is not None:
        return stored
    if fmt == "pdf":
        await _raise_if_refused(state, workspace, run_id, fmt)
        return await _request_pdf(state, request.app.state.events, workspace, run_id)
    async with state.connection() as conn:
        data = await runs.get_report(conn, workspace, run_id, markdown=fmt == "md")
    result = RenderResult.from_dict({"html": data["report_html"], "markdown": data["report_markdown"],
                                     "tables": data["report_tables"] or []})
    file = await asyncio.to_thread(export_report, result, fmt, data["template_name"])
    return Response(file.data, media_type=file.media_type, headers=_download_headers(file.filename, attachment))


ROUTES = [Route("/api/runs/{run_id}/report", report, methods=["GET"], access=Access.VIEWER)]
