"""PING: the end-to-end check (``reportgen ping``, health checks, benchmarks) and failure drills.

Payload options: ``sleep_seconds`` (0–300, works that long while the lease is heartbeated), ``fail``
(raises, to rehearse retries and failure paths) and ``trace`` (true: the result also carries the pickup's
timestamps, epoch seconds: ``notify_heard`` (the worker's last NOTIFY callback), ``loop_resumed`` (its
claim loop's last wake-up), ``claim_sent`` (the worker sent the claim), ``claim_now`` (the claim
statement's ``now()``, the server's clock: the job's ``started_at``), ``claim_seen`` (the worker read the
committed reply), ``dispatched`` (the job's task created) and ``handler_entry``; bench/pickup_trace.py
turns them into phases).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from worker.context import JobContext


class PingDrillFailure(Exception):
    """Raised on purpose by PING {"fail": true}."""


async def ping(ctx: JobContext) -> dict[str, Any]:
    entered = time.time()
    started = datetime.fromtimestamp(entered, UTC).isoformat(timespec="microseconds")
    sleep = ctx.payload.get("sleep_seconds", 0)
    if isinstance(sleep, bool) or not isinstance(sleep, int | float) or not 0 <= sleep <= 300:
        raise ValueError("sleep_seconds must be a number from 0 to 300")
    if sleep:
        await asyncio.sleep(float(sleep))
    if ctx.payload.get("fail"):
        raise PingDrillFailure(f"PING drill failure requested (attempt {ctx.attempt})")
    if ctx.payload.get("trace") is True:
        return {"pong": True, "handler_started_at": started, "trace": {**ctx.trace, "handler_entry": entered}}
    return {"pong": True, "handler_started_at": started}


HANDLERS = {"PING": ping}
LIGHT_TYPES = {"PING"}  # its own slots (WORKER_LIGHT_CONCURRENCY): a health check never waits for a render
