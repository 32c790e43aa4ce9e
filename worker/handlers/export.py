"""EXPORT {run_id, format}: make a finished run's download and store it in ``run_exports``.

The worker makes downloads so that the web never lays out a PDF (seconds of CPU in a request would stall
every other request of that process); the web serves the stored bytes. PDF is enqueued by START_RUN as
soon as a run completes; any format of ``common.reports.FORMATS`` can be asked for. The conversion is
CPU-bound and synchronous, so it runs in a thread (the event loop keeps heartbeating the lease).
Idempotent: a repeated attempt overwrites the same (run, format) row. A run that is not COMPLETED has
nothing to export: that is a permanent condition, so the job completes saying so instead of retrying.
"""

from __future__ import annotations

from typing import Any

from common.reports import FORMATS, RenderResult, export_report
from common.sql import query
from worker.context import JobContext


async def export(ctx: JobContext) -> dict[str, Any]:
    run_id = str(ctx.payload.get("run_id", ""))
    fmt = ctx.payload.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    return await make_export(ctx, run_id, str(fmt))


async def make_export(ctx: JobContext, run_id: str, fmt: str) -> dict[str, Any]:
    """Make and store one download of a finished run (also used by DELIVER when its PDF is not there yet)."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(query("run_get_report"), {"id": run_id, "workspace_id": ctx.workspace_id})
        run = await cur.fetchone()
    if run is None or run["status"] != "COMPLETED" or run["report_html"] is None:
        return {"run_id": run_id, "format": fmt, "skipped": "the run has no finished report"}
    result = RenderResult.from_dict({"html": run["report_html"], "markdown": run["report_markdown"],
                                     "tables": run["report_tables"] or []})
    file = await ctx.run_in_thread(export_report, result, fmt, run["template_name"])
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute(query("run_export_upsert"), {
            "id": run_id, "format": fmt, "media_type": file.media_type, "filename": file.filename,
            "data": file.data})
    return {"run_id": run_id, "format": fmt, "bytes": len(file.data), "filename": file.filename}


HANDLERS = {"EXPORT": export}
