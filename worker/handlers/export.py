"""EXPORT {run_id, format}: make a finished run's download and store it in ``run_exports``.

The worker makes downloads so that the web never lays out a PDF (seconds of CPU in a request would stall
every other request of that process); the web serves the stored bytes. PDF is enqueued by START_RUN as
soon as a run completes; any format of ``common.reports.FORMATS`` can be asked for.
The PDF is laid out in a limited child process (``common.reports.pdf``: PDF_TIMEOUT_SECONDS,
PDF_MEMORY_MB, PDF_MAX_PAGES; a warm one of PDF_POOL_SIZE when ready), never in this process: a huge
report cannot hold this worker's GIL or memory, and the jobs beside it go on. The other formats are
linear transforms, made in a thread.
A download over its limits is refused for good: the reason goes to ``run_export_failures`` (the run page
shows it, the download answers 422) and the job *completes* saying so; retrying would fail the same way.
Idempotent: a repeated attempt overwrites the same (run, format) row. A run that is not COMPLETED has
nothing to export: that is a permanent condition, so the job completes saying so instead of retrying.
"""

from __future__ import annotations

from typing import Any

from common import runs
from common.errors import NotFound
from common.reports import FORMATS, ExportFile, RenderResult, export_report
from common.reports.errors import ExportRefused
from common.reports.export import _slug
from common.reports.pdf import limits_for, make_pdf_async
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
        try:
            run = await runs.get_report(conn, ctx.workspace_id, run_id, markdown=fmt == "md")
        except NotFound:
            run = None
    if run is None or run["status"] != "COMPLETED" or run["report_html"] is None:
        return {"run_id": run_id, "format": fmt, "skipped": "the run has no finished report"}
    try:
        file = await _make(ctx, run, fmt)
    except ExportRefused as exc:
        async with ctx.pool.connection() as conn, conn.transaction():
            await conn.execute(query("run_export_failure_upsert"), {
                "id": run_id, "format": fmt, "kind": exc.kind, "message": exc.message})
            await conn.execute(query("run_notify"), {"id": run_id, "workspace_id": ctx.workspace_id,
                                                     "job_id": ctx.id, "status": "COMPLETED"})
        return {"run_id": run_id, "format": fmt, "refused": exc.to_dict()}
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute(query("run_export_upsert"), {
            "id": run_id, "format": fmt, "media_type": file.media_type, "filename": file.filename,
            "data": file.data})
    return {"run_id": run_id, "format": fmt, "bytes": len(file.data), "filename": file.filename}


async def _make(ctx: JobContext, run: dict[str, Any], fmt: str) -> ExportFile:
    if fmt == "pdf":
        parameters = {str(k): _shown(v) for k, v in (run.get("parameters") or {}).items()}
        data = await make_pdf_async(run["report_html"], run["template_name"], parameters, limits_for(ctx.settings))
        return ExportFile(data, "application/pdf", f"{_slug(run['template_name'])}.pdf")
    result = RenderResult.from_dict({"html": run["report_html"], "markdown": run["report_markdown"],
                                     "tables": run["report_tables"] or []})
    return await ctx.run_in_thread(export_report, result, fmt, run["template_name"])


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


HANDLERS = {"EXPORT": export}
