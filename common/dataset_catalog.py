"""The datasets page: a workspace's uploads with their shape and where they are used, and deletion.

"Used" means named by id in a live template's samples, a schedule's parameters, or runs' parameters.
Deleting one that a template's sample or a schedule uses needs ``force`` (the API's ``?force=1``, the
page's confirm step): a schedule would fail at its next fire. Runs never block a delete: a finished run
keeps its report, and the run page names the file as missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection

from common import report_datasets
from common.errors import Conflict, NotFound, ValidationError
from common.reports import parse_csv
from common.rows import row_to_json
from common.sql import query

LIST_LIMIT = 500
BLOCKING = ("template", "schedule")


class DatasetInUse(Conflict):
    code = "dataset_in_use"


async def list_datasets(conn: AsyncConnection, workspace_id: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The newest uploads, each with ``columns``, ``row_count`` and ``used_by`` (see ``usage``)."""
    cur = await conn.execute(query("dataset_list"), {"workspace_id": workspace_id, "limit": limit})
    rows: list[dict[str, Any]] = [dict(r) for r in await cur.fetchall()]  # type: ignore[call-overload]
    await _fill_shapes(conn, workspace_id, [r for r in rows if r["columns"] is None])
    used = await usage(conn, workspace_id, [str(r["id"]) for r in rows])
    for row in rows:
        row["used_by"] = used.get(str(row["id"]), [])
    return rows


async def _fill_shapes(conn: AsyncConnection, workspace_id: str, rows: list[dict[str, Any]]) -> None:
    """Uploads from before shapes were recorded: parse once (in a thread) and store columns and count."""
    if not rows:
        return
    contents = await report_datasets.load(conn, workspace_id, [str(r["id"]) for r in rows])

    def shapes() -> dict[str, tuple[list[str], int] | None]:
        out: dict[str, tuple[list[str], int] | None] = {}
        for ident, data in contents.items():
            try:
                parsed = parse_csv(data, limits=report_datasets.LIMITS)
            except ValidationError:
                out[ident] = None  # no longer acceptable under today's limits: shown without a shape
                continue
            out[ident] = (list(parsed.columns), len(parsed.rows))
        return out

    found = await asyncio.to_thread(shapes)
    for row in rows:
        shape = found.get(str(row["id"]))
        if shape is None:
            continue
        row["columns"], row["row_count"] = shape
        await conn.execute(query("dataset_set_shape"), {"id": row["id"], "workspace_id": workspace_id,
                                                         "columns": shape[0], "row_count": shape[1]})


async def usage(conn: AsyncConnection, workspace_id: str, ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """dataset id → its uses: ``{"kind": template|schedule|run, "ref_id", "label", "parameter", "detail",
    "uses"}`` (one "run" entry per dataset: ``uses`` runs, ``ref_id`` the latest)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    cur = await conn.execute(query("dataset_usage"), {"workspace_id": workspace_id, "ids": wanted})
    out: dict[str, list[dict[str, Any]]] = {}
    for row in await cur.fetchall():
        use = row_to_json(row, omit=("dataset_id",))  # type: ignore[arg-type]
        out.setdefault(str(row["dataset_id"]), []).append(use)  # type: ignore[call-overload]
    return out


def blocking(uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The uses that make a delete need confirming: templates' samples and schedules."""
    return [u for u in uses if u["kind"] in BLOCKING]


async def delete(conn: AsyncConnection, workspace_id: str, dataset_id: str, *, force: bool) -> dict[str, Any]:
    """Delete (and drop from templates' samples); 404 when not this workspace's, ``DatasetInUse`` (409)
    when a template's sample or a schedule uses it and ``force`` is not set."""
    found = await report_datasets.describe(conn, workspace_id, [dataset_id])
    if dataset_id not in found:
        raise NotFound(f"no dataset {dataset_id} in this workspace")
    uses = (await usage(conn, workspace_id, [dataset_id])).get(dataset_id, [])
    if not force and blocking(uses):
        names = ", ".join(f"{u['kind']} {u['label']!r} ({u['parameter']})" for u in blocking(uses))
        raise DatasetInUse(f"{found[dataset_id]['filename']} is used by {names}; delete with ?force=1 to "
                           "delete it anyway", details={"used_by": uses})
    cur = await conn.execute(query("dataset_delete"), {"id": dataset_id, "workspace_id": workspace_id})
    row = await cur.fetchone()
    if row is None:  # deleted meanwhile by someone else
        raise NotFound(f"no dataset {dataset_id} in this workspace")
    return {"id": dataset_id, "filename": row["filename"], "used_by": uses,  # type: ignore[call-overload]
            "templates_unsampled": row["templates_unsampled"]}  # type: ignore[call-overload]


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    out = row_to_json(row)
    out["columns"] = list(row["columns"]) if row["columns"] is not None else None
    out["links"] = {"self": f"/api/datasets/{out['id']}"}
    return out
