"""Job handlers used by the tests, loaded into real worker processes with REPORTGEN_HANDLER_MODULES.

Each one records its invocation in ``handler_calls`` (made by the ``database_url`` fixture), so tests can count how
often a job's handler actually ran, independently of the jobs table the worker writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import os
import time
from typing import Any

import psycopg

from worker.context import JobContext

# Where to record calls when the worker's own database path may be cut (the partition tests put a proxy
# between the worker and PostgreSQL, and the record must still get through).
CALLS_URL_ENV = "REPORTGEN_TEST_CALLS_URL"


async def _record(sql: str, params: tuple[Any, ...], ctx: JobContext) -> Any:
    direct = os.environ.get(CALLS_URL_ENV)
    if direct:
        async with await psycopg.AsyncConnection.connect(direct, autocommit=True) as conn:
            return await (await conn.execute(sql, params)).fetchone()
    async with ctx.pool.connection() as conn:
        return await (await conn.execute(sql, params)).fetchone()


async def record_call(ctx: JobContext) -> int:
    row = await _record("INSERT INTO handler_calls (job_id, attempt, pid) VALUES (%s, %s, %s) RETURNING id",
                        (ctx.id, ctx.attempt, os.getpid()), ctx)
    return int(row["id"] if isinstance(row, dict) else row[0])


async def record_stop(ctx: JobContext, call_id: int) -> None:
    await _record("UPDATE handler_calls SET stopped_at = clock_timestamp() WHERE id = %s RETURNING id",
                  (call_id,), ctx)


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


async def lease_victim(ctx: JobContext) -> dict[str, Any]:
    """Works ``sleep_seconds`` on its first attempt, at once on later ones; records start and stop (even
    when cancelled) through ``REPORTGEN_TEST_CALLS_URL``, which bypasses a cut network."""
    call_id = await record_call(ctx)
    try:
        if ctx.attempt == 1:
            await asyncio.sleep(float(ctx.payload.get("sleep_seconds", 60)))
        return {"attempt": ctx.attempt, "pid": os.getpid()}
    finally:
        await asyncio.shield(record_stop(ctx, call_id))


async def hold_connection(ctx: JobContext) -> dict[str, Any]:
    """Holds one of the worker's pooled connections for ``sleep_seconds`` (handlers exhausting the pool)."""
    async with ctx.pool.connection() as conn:
        await conn.execute("INSERT INTO handler_calls (job_id, attempt, pid) VALUES (%s, %s, %s)",
                           (ctx.id, ctx.attempt, os.getpid()))
        await asyncio.sleep(float(ctx.payload.get("sleep_seconds", 5)))
    return {"attempt": ctx.attempt}


async def stubborn(ctx: JobContext) -> dict[str, Any]:
    """Runs long and, when cancelled, keeps going for ``cleanup_seconds`` more (a handler that is slow to
    stop): shutdown must not wait for it beyond its budget."""
    await record_call(ctx)
    try:
        await asyncio.sleep(float(ctx.payload.get("sleep_seconds", 60)))
    except asyncio.CancelledError:
        await asyncio.sleep(float(ctx.payload.get("cleanup_seconds", 3)))
        raise
    return {}


BAD_RESULTS: dict[str, Any] = {
    "nan": {"ratio": float("nan")}, "inf": {"ratio": float("inf")}, "nul": {"text": "a\x00b"},
    "datetime": {"at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC)}, "decimal": {"n": decimal.Decimal("1.5")},
    "object": object(),
}


async def bad_result(ctx: JobContext) -> Any:
    """Returns a result PostgreSQL's jsonb cannot hold (``kind``: one of BAD_RESULTS)."""
    await record_call(ctx)
    return BAD_RESULTS[str(ctx.payload.get("kind", "nan"))]


async def probe_secrets(ctx: JobContext) -> Any:
    """Starts ``tests.support.secret_probe`` the way the render child is started (``common.reports.child``)
    and returns what it could read of this worker (``marker``: a secret's value) and of ``others``."""
    import json
    import pickle

    from common.reports import child

    targets = {"worker": {"pid": os.getpid(), "marker": ctx.payload["marker"]}, **ctx.payload.get("others", {})}
    payload = pickle.dumps({"targets": targets, "memory_bytes": 512 * 1024 * 1024, "cpu_seconds": 10})
    done = await child.run_child_async("tests.support.secret_probe", payload, 20)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)


BASE_EXCEPTIONS: dict[str, type[BaseException]] = {
    "SystemExit": SystemExit, "KeyboardInterrupt": KeyboardInterrupt, "GeneratorExit": GeneratorExit,
    "BaseException": BaseException}


async def raise_base_exception(ctx: JobContext) -> Any:
    """Raises what ``except Exception`` does not catch (``kind``: one of BASE_EXCEPTIONS), as a handler that
    calls ``sys.exit()`` or a library that raises ``KeyboardInterrupt`` would."""
    await record_call(ctx)
    raise BASE_EXCEPTIONS[str(ctx.payload.get("kind", "SystemExit"))]("raised by the handler")


HANDLERS = {"COUNT": count, "SLOW_FIRST_CALL": slow_first_call, "SPIN": spin, "WAIT_FOR_CANCEL": wait_for_cancel,
            "LEASE_VICTIM": lease_victim, "HOLD_CONNECTION": hold_connection, "STUBBORN": stubborn,
            "BAD_RESULT": bad_result, "PROBE_SECRETS": probe_secrets,
            "RAISE_BASE_EXCEPTION": raise_base_exception}

