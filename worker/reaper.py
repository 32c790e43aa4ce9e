"""Rescues jobs whose lease ran out, prunes old finished jobs and the waiting rows of dead workers.

Any worker may rescue any job: the one that held it died, hung, or lost its connection for longer than
the lease. Pruning deletes finished jobs older than ``JOB_RETENTION_DAYS`` in batches, so the table does
not grow without bound and no single statement holds many locks. It must keep pace with the drain: one
process finishes 2,000-15,000 jobs/s, so a round deletes batch after batch while batches come back full
(up to ``PRUNE_BUDGET_SECONDS``), and rounds come every ``PRUNE_EVERY_SECONDS`` (bench/prune_soak.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from psycopg_pool import AsyncConnectionPool

from common import db
from common.sql import query

log = logging.getLogger(__name__)
RESCUE_BATCH = 100
PRUNE_BATCH = 5000
PRUNE_BUDGET_SECONDS = 5.0


async def rescue_expired(pool: AsyncConnectionPool) -> list[dict[str, Any]]:
    async with db.translate_errors_async(), pool.connection() as conn:
        cur = await conn.execute(query("job_rescue_expired"), {"limit": RESCUE_BATCH})
        rows = await cur.fetchall()
    for row in rows:
        log.warning("rescued job whose lease expired; now %s", row["status"],  # type: ignore[call-overload]
                    extra={"job_id": str(row["id"])})  # type: ignore[call-overload]
    return rows  # type: ignore[return-value]


async def prune_finished(pool: AsyncConnectionPool, retention_seconds: float, *,
                         budget_seconds: float = PRUNE_BUDGET_SECONDS) -> int:
    """Delete old finished jobs, a batch at a time, while batches come back full and the time budget
    lasts (then the next round goes on); returns how many were deleted."""
    deleted = 0
    deadline = time.monotonic() + budget_seconds
    while True:
        async with db.translate_errors_async(), pool.connection() as conn:
            cur = await conn.execute(query("job_prune_finished"),
                                     {"retention_seconds": retention_seconds, "limit": PRUNE_BATCH})
            deleted += cur.rowcount
        if cur.rowcount < PRUNE_BATCH or time.monotonic() > deadline:
            break
    if deleted:
        log.info("pruned %d finished jobs older than %.1f days", deleted, retention_seconds / 86400)
    return deleted


async def prune_waiting(pool: AsyncConnectionPool, older_than_seconds: float) -> None:
    """Forget workers that died while waiting; their rows would only cost needless NOTIFYs."""
    async with db.translate_errors_async(), pool.connection() as conn:
        await conn.execute(query("worker_waiting_prune"), {"older_than_seconds": older_than_seconds})
