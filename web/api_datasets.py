"""JSON API of the workspace's datasets: list them (shape and uses), delete one.

``POST /api/datasets`` (upload) lives with runs in ``web/api_runs.py``. ``DELETE`` needs no CSRF token:
a cross-site form cannot send one, and a cross-site ``fetch`` DELETE needs a preflight we never grant.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import audit, dataset_catalog, report_datasets
from common.errors import NotFound, ValidationError
from web.permissions import Access, Route, workspace_of
from web.state import AppState


def dataset_id(request: Request) -> str:
    raw = request.path_params["dataset_id"]
    ident = report_datasets.dataset_id(raw)
    if ident is None:
        raise NotFound(f"no dataset {raw!r}: dataset ids are UUIDs")
    return ident


async def record_deleted(conn: Any, request: Request, done: dict[str, Any]) -> None:
    """The audit event of a dataset deleted (API and datasets page), with what still named it."""
    await audit.record_request(conn, request, "dataset.deleted", done["id"], {
        "filename": done["filename"], "used_by": sorted({u["kind"] for u in done["used_by"]})})


def force(request: Request) -> bool:
    raw = request.query_params.get("force", "0")
    if raw not in ("0", "1"):
        raise ValidationError("force: 1 to delete a dataset that is in use, or 0", details={"force": "0 or 1"})
    return raw == "1"


async def list_datasets(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        rows = await dataset_catalog.list_datasets(conn, workspace_of(request))
    return JSONResponse({"datasets": [dataset_catalog.to_json(r) for r in rows]})


async def delete_dataset(request: Request) -> Response:
    """204; 409 ``dataset_in_use`` (with ``details.used_by``) unless ``?force=1``."""
    forced = force(request)
    state: AppState = request.app.state.rg
    async with state.connection() as conn:
        done = await dataset_catalog.delete(conn, workspace_of(request), dataset_id(request), force=forced)
        await record_deleted(conn, request, done)
    return Response(status_code=204)


ROUTES = [
    Route("/api/datasets", list_datasets, methods=["GET"], access=Access.VIEWER),
    Route("/api/datasets/{dataset_id}", delete_dataset, methods=["DELETE"], access=Access.EDITOR),
]
