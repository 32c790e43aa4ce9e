"""Extends the leases of every job this worker holds, and learns which of them to stop.

Runs every third of the lease on the event loop; handlers run off the loop (async I/O, threads, child
processes), so a handler that burns CPU does not starve it. A job missing from the answer has lost its
lease (rescued after a long pause, or given away): its handler is stopped, and its fenced writes would
fail anyway. A job flagged ``cancel_requested`` is stopped and recorded as CANCELLED.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from common import db
from common.sql import query

log = logging.getLogger(__name__)


async def extend_leases(pool: AsyncConnectionPool, worker_id: str, held: Iterable[tuple[str, int]],
                        lease_seconds: float) -> dict[str, bool]:
    """One heartbeat: returns {job id: cancel requested} for the leases still held."""
    held = list(held)
    if not held:
        return {}
    payload = Jsonb([{"id": job_id, "attempts": attempts} for job_id, attempts in held])
    async with db.translate_errors_async(), pool.connection() as conn:
        cur = await conn.execute(query("job_extend_leases"), {"held": payload, "worker_id": worker_id,
                                                              "lease_seconds": lease_seconds})
        rows = await cur.fetchall()
    return {str(r["id"]): bool(r["cancel_requested"]) for r in rows}  # type: ignore[call-overload]
