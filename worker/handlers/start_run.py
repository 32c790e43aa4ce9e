"""START_RUN {run_id}: render a run's report in the sandboxed child process and store it.

Outcomes, and why:
- The report rendered: the run is COMPLETED with its HTML, Markdown and tables, and an EXPORT pdf job is
  enqueued in the same transaction (the PDF is the download people want, and the slowest to make).
- The template failed (``RenderError`` of any kind but ``internal``: syntax, sandbox refusal, limits,
  timeout), or the stored parameters are no longer valid (a dataset was deleted): the run is FAILED with
  the template's line and message, and the *job completes* with ``{"run_status": "FAILED", ...}``. A
  render error is the template's fault and deterministic, so retrying would only burn attempts and CPU;
  a FAILED job is kept for what operators must look at (infrastructure faults).
- The render process itself broke (``kind == "internal"``) or the database went away: the attempt raises
  and is retried with backoff; on the last attempt the run is marked FAILED first, so it never stays
  IN_PROGRESS. (``run_get`` also ends a run whose job ended FAILED or CANCELLED without a word from here.)

Idempotent under at-least-once delivery: a run that is already final is left alone; a repeated attempt
re-renders and overwrites the same row; the PDF export is enqueued with a dedup key.
A run a schedule made gets its DELIVER jobs (one per recipient) in the transaction that finishes it, so
a crash between finishing and delivering loses no delivery (common/deliveries.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

from common import deliveries, jobs, runs
from common.errors import ValidationError
from common.reports import RenderError, render_report_async, sandbox
from common.sql import query
from worker.context import JobContext


async def _notify(conn: Any, ctx: JobContext, run_id: str, status: str) -> None:
    await conn.execute(query("run_notify"), {"id": run_id, "workspace_id": ctx.workspace_id,
                                             "job_id": ctx.id, "status": status})


async def _fail(ctx: JobContext, run_id: str, error: dict[str, Any]) -> dict[str, Any]:
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute(query("run_fail"), {"id": run_id, "workspace_id": ctx.workspace_id,
                                               "error": json.dumps(error)})  # text; the column casts it
        await deliveries.enqueue_for_run(conn, ctx.workspace_id, run_id)  # a failure notice, if scheduled
        await _notify(conn, ctx, run_id, "FAILED")
    return {"run_id": run_id, "run_status": "FAILED", "error": error}


async def start_run(ctx: JobContext) -> dict[str, Any]:
    run_id = str(ctx.payload.get("run_id", ""))
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(query("run_get_for_render"), {"id": run_id, "workspace_id": ctx.workspace_id})
        run = await cur.fetchone()
        if run is None:
            return {"run_id": run_id, "skipped": "no such run in this workspace"}
        if run["status"] in runs.FINAL:
            return {"run_id": run_id, "run_status": run["status"], "skipped": "the run is final already"}
        async with conn.transaction():
            await conn.execute(query("run_mark_started"), {"id": run_id, "workspace_id": ctx.workspace_id,
                                                           "progress": 0.1})
            await _notify(conn, ctx, run_id, "IN_PROGRESS")
        try:
            values = await runs.typed_values(conn, ctx.workspace_id, run["declarations"], run["parameters"])
        except ValidationError as exc:
            message = "; ".join(f"{k}: {v}" for k, v in exc.details.items()) \
                if isinstance(exc.details, dict) else exc.message
            return await _fail(ctx, run_id, {"message": f"invalid parameters: {message}", "line": None,
                                             "kind": "parameters"})
    rendering = time.perf_counter()
    try:
        limits = sandbox.limits_for(ctx.settings.render_memory_mb)
        result = await render_report_async(run["body"], values, limits)
    except RenderError as exc:
        if exc.kind == "internal" and ctx.attempt < ctx.max_attempts:
            raise  # not the template's fault: retry with backoff
        return await _fail(ctx, run_id, exc.to_dict())
    render_ms = round((time.perf_counter() - rendering) * 1000, 1)  # bench/report_on_screen.py reads it
    data = result.to_dict()
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(query("run_complete"), {
            "id": run_id, "workspace_id": ctx.workspace_id, "html": data["html"], "markdown": data["markdown"],
            "tables": json.dumps(data["tables"])})
        if await cur.fetchone() is not None:
            await jobs.enqueue(conn, ctx.workspace_id, runs.export_job(run_id, "pdf", ctx.settings))
            await deliveries.enqueue_for_run(conn, ctx.workspace_id, run_id)  # if a schedule made the run
        await _notify(conn, ctx, run_id, "COMPLETED")
    return {"run_id": run_id, "run_status": "COMPLETED", "html_chars": len(data["html"]),
            "tables": len(data["tables"]), "render_ms": render_ms}


HANDLERS = {"START_RUN": start_run}
