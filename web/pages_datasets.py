"""The datasets page: the workspace's uploaded CSVs, their shape, where they are used, and delete.

Deleting a dataset that a template's sample or a schedule uses shows a confirm step first (the page's
version of the API's 409 ``dataset_in_use`` without ``?force=1``).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common import dataset_catalog, report_datasets
from common.errors import NotFound
from web import csrf
from web.api_datasets import dataset_id, record_deleted
from web.page_render import page
from web.permissions import Access, Route, may, workspace_of
from web.state import AppState


async def list_page(request: Request) -> Response:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await dataset_catalog.list_datasets(conn, workspace_of(request))
    return await page(request, "datasets.html", {
        "datasets": rows, "can_delete": may(request, Access.EDITOR),
        "deleted": request.query_params.get("deleted", "")[:200]})


async def delete(request: Request) -> Response:
    state: AppState = request.app.state.rg
    form = await request.form(max_files=0, max_fields=5)
    await csrf.check_form(request, form.get(csrf.FIELD))
    ident = dataset_id(request)
    confirmed = form.get("confirm") == "1"
    async with state.connection() as conn:
        described = await report_datasets.describe(conn, workspace_of(request), [ident])
        if ident not in described:
            raise NotFound(f"no dataset {ident} in this workspace")
        uses = (await dataset_catalog.usage(conn, workspace_of(request), [ident])).get(ident, [])
        if dataset_catalog.blocking(uses) and not confirmed:
            return await page(request, "dataset_delete.html", {"dataset": described[ident], "uses": uses})
        done = await dataset_catalog.delete(conn, workspace_of(request), ident, force=True)
        await record_deleted(conn, request, done)
    return RedirectResponse(f"/datasets?deleted={quote(done['filename'])}", status_code=303)


ROUTES = [
    Route("/datasets", list_page, methods=["GET"], access=Access.VIEWER),
    Route("/datasets/{dataset_id}/delete", delete, methods=["POST"], access=Access.EDITOR),
]
