"""The run page: live status (``static/run.js``: SSE, falling back to polling), the report, downloads.

The report is shown inline as the sanitised HTML the worker stored (nh3 allow-list at render time; our
charts are the only SVG), under the page's CSP that allows no inline script at all. ``/fragment`` serves
just that HTML so the page can insert it when the run completes, without a reload. The "Run" form usually
redirects here after the run finished (``RUN_PAGE_WAIT_SECONDS``, ``web.sse.wait_until_final``): the report
is then in the page as served, marked ``data-report="shown"``, and ``run.js`` has nothing to wait for.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from common import report_datasets, runs
from common.errors import Conflict
from common.sql import query
from web import api_runs, csrf
from web.page_render import page
from web.permissions import Access, Route, may, workspace_of
from web.state import AppState


async def run_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    ident = runs.run_id(request.path_params["run_id"])
    async with state.connection() as conn:
        run = await runs.get(conn, workspace_of(request), ident)
        report = await runs.get_report(conn, workspace_of(request), ident) if run["status"] == "COMPLETED" else None
        files = await report_datasets.describe(conn, workspace_of(request),
                                               [str(v) for v in run["parameters"].values() if isinstance(v, str)])
        cur = await conn.execute(query("run_export_failures_list"),
                                 {"id": ident, "workspace_id": workspace_of(request)})
        failures = await cur.fetchall()
    return await page(request, "run.html", {"run": run, "report_html": report and report["report_html"],
                                            "files": files, "export_failures": failures,
                                            "can_share": may(request, Access.EDITOR),
                                            "can_cancel": may(request, Access.EDITOR)})


async def cancel_page_action(request: Request) -> Response:
    """The run page's Cancel button (the same operation as ``POST /api/runs/{id}/cancel``)."""
    state: AppState = request.app.state.rg
    form = await request.form(max_files=0, max_fields=4)
    await csrf.check_form(request, form.get(csrf.FIELD))
    ident = runs.run_id(request.path_params["run_id"])
    async with state.connection() as conn:
        await api_runs.cancel(conn, request, ident)
    return RedirectResponse(f"/runs/{ident}", status_code=303)


async def fragment(request: Request) -> Response:
    state: AppState = request.app.state.rg
    ident = runs.run_id(request.path_params["run_id"])
    async with state.connection() as conn:
        report = await runs.get_report(conn, workspace_of(request), ident)
    if report["status"] != "COMPLETED" or report["report_html"] is None:
        raise Conflict(f"run {ident} has no report yet")
    return HTMLResponse(report["report_html"], headers={"Cache-Control": "private, max-age=300"})


ROUTES = [
    Route("/runs/{run_id}", run_page, methods=["GET"], access=Access.VIEWER),
    Route("/runs/{run_id}/fragment", fragment, methods=["GET"], access=Access.VIEWER),
    Route("/runs/{run_id}/cancel", cancel_page_action, methods=["POST"], access=Access.EDITOR),
]
