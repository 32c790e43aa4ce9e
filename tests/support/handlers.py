"""Job handlers used by the tests, loaded into real worker processes with REPORTGEN_HANDLER_MODULES.

Each one records its invocation in ``handler_calls`` (made by the ``database_url`` fixture), so tests can count how
often a job's handler actually ran, independently of the jobs table the worker writes.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from worker.context import JobContext


async def record_call(ctx: JobContext) -> None:
    async with ctx.pool.connection() as conn:
        await conn.execute("INSERT INTO handler_calls (job_id, attempt, pid) VALUES (%s, %s, %s)",
                           (ctx.id, ctx.attempt, os.getpid()))


async def count(ctx: JobContext) -> dict[str, Any]:
    """Records the call, optionally works a little (``sleep_seconds``), completes."""
    await record_call(ctx)
    await asyncio.sleep(float(ctx.payload.get("sleep_seconds", 0)))
    return {"attempt": ctx.attempt, "pid": os.getpid()}


async def slow_first_call(ctx: JobContext) -> dict[str, Any]:
    """Sleeps ``sleep_seconds`` on the first call for this job, completes at once on later calls."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM handler_calls WHERE job_id = %s", (ctx.id,))
        previous = (await cur.fetchone())["n"]
    await record_call(ctx)
    if previous == 0:
        await asyncio.sleep(float(ctx.payload.get("sleep_seconds", 30)))
    return {"attempt": ctx.attempt, "pid": os.getpid(), "call": previous + 1}


def _spin(seconds: float) -> int:
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n


async def spin(ctx: JobContext) -> dict[str, Any]:
    """Burns the CPU for ``seconds`` in a thread (pure Python: it holds the GIL most of the time)."""
    await record_call(ctx)
    loops = await ctx.run_in_thread(_spin, float(ctx.payload.get("seconds", 1)))
    return {"loops": loops}


async def wait_for_cancel(ctx: JobContext) -> dict[str, Any]:
    """Runs until told to cancel (or ``seconds`` pass), recording that it started."""
    await record_call(ctx)
    await asyncio.wait_for(ctx.cancel_requested.wait(), float(ctx.payload.get("seconds", 60)))
    return {"cancelled_seen": True}


HANDLERS = {"COUNT": count, "SLOW_FIRST_CALL": slow_first_call, "SPIN": spin, "WAIT_FOR_CANCEL": wait_for_cancel}
