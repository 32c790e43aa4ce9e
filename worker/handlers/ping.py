"""PING: the end-to-end check (``reportgen ping``, health checks, benchmarks) and failure drills.

Payload options: ``sleep_seconds`` (0–300, works that long while the lease is heartbeated) and
``fail`` (raises, to rehearse retries and failure paths).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from worker.context import JobContext


class PingDrillFailure(Exception):
    """Raised on purpose by PING {"fail": true}."""


async def ping(ctx: JobContext) -> dict[str, Any]:
    started = datetime.now(UTC).isoformat(timespec="microseconds")
    sleep = ctx.payload.get("sleep_seconds", 0)
    if isinstance(sleep, bool) or not isinstance(sleep, int | float) or not 0 <= sleep <= 300:
        raise ValueError("sleep_seconds must be a number from 0 to 300")
    if sleep:
        await asyncio.sleep(float(sleep))
    if ctx.payload.get("fail"):
        raise PingDrillFailure(f"PING drill failure requested (attempt {ctx.attempt})")
    return {"pong": True, "handler_started_at": started}


HANDLERS = {"PING": ping}
