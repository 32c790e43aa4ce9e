"""The open pages of a share link: ``/s/<token>`` (the run's report) and ``/s/<token>/download``.

The token alone names the run and its workspace (``common/shares.py``); nothing else of the app is
reachable from here: the page is not built on ``base.html`` (no navigation) and its only links are its
own downloads. Downloads are the API's (``web.api_reports.serve_report``), byte for byte. A revoked,
expired or unknown token is a 404 page, the same for all three.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from common import report_datasets, runs, shares
from web.api_reports import serve_report
from web.page_render import TEMPLATES
from web.permissions import Access, Route
from web.state import AppState

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


def _missing(request: Request) -> Response:
    return TEMPLATES.TemplateResponse(request, "share_missing.html", {}, status_code=404, headers=HEADERS)


async def share_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    token = request.path_params["token"]
    async with state.connection() as conn:
        link = await shares.resolve(conn, token)
        if link is None:
            return _missing(request)
        workspace, run_id = str(link["workspace_id"]), str(link["run_id"])
        run = await runs.get(conn, workspace, run_id)
        report = await runs.get_report(conn, workspace, run_id)
        files = await report_datasets.describe(conn, workspace,
                                               [str(v) for v in run["parameters"].values() if isinstance(v, str)])
    return TEMPLATES.TemplateResponse(request, "share.html", {
        "run": run, "report_html": report["report_html"], "files": files, "base": shares.path(token)},
        headers=HEADERS)


async def share_download(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        link = await shares.resolve(conn, request.path_params["token"])
    if link is None:
        return _missing(request)
    response = await serve_report(request, str(link["workspace_id"]), str(link["run_id"]))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


ROUTES = [
    Route("/s/{token}", share_page, methods=["GET"], access=Access.SHARE),
    Route("/s/{token}/download", share_download, methods=["GET"], access=Access.SHARE),
]
