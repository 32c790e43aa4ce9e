"""Queue depth and recent latency, read from the database when /metrics is scraped.

QUEUED and IN_PROGRESS counts are exact: they read only the partial indexes, whose size is the live
queue, not the history. Finished states are exact below ``EXACT_FINISHED_BELOW_ROWS`` rows and estimated
from a block sample above, so that a scrape stays fast with millions of finished jobs.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from common.metrics import QueueSnapshot, snapshot_from_rows
from common.sql import query

EXACT_FINISHED_BELOW_ROWS = 100_000
SAMPLE_ROWS = 20_000
RECENT_WINDOW_SECONDS = 300
RECENT_SAMPLE_JOBS = 5000  # percentiles from the latest jobs of the window: bounded at any throughput


async def read_snapshot(conn: AsyncConnection, *, include_recent: bool) -> QueueSnapshot:
    active = await (await conn.execute(query("job_count_active"))).fetchall()
    size_row = await (await conn.execute(query("job_table_size_estimate"))).fetchone()
    rows = float(size_row["rows"]) if size_row else 0.0  # type: ignore[call-overload]
    if rows < EXACT_FINISHED_BELOW_ROWS:
        finished = await (await conn.execute(query("job_count_finished"))).fetchall()
    else:
        percent = max(0.01, min(100.0, 100.0 * SAMPLE_ROWS / rows))
        finished = await (await conn.execute(query("job_count_finished_sampled"), {"percent": percent})).fetchall()
    recent = []
    if include_recent:
        recent = await (await conn.execute(query("job_recent_latency"),
                                           {"window_seconds": RECENT_WINDOW_SECONDS,
                                            "limit": RECENT_SAMPLE_JOBS})).fetchall()
    handled = {r["type"] for r in await (await conn.execute(query("worker_handled_types"))).fetchall()}  # type: ignore[call-overload]
    return snapshot_from_rows(active, finished, recent, handled)  # type: ignore[arg-type]


async def unhandled_types(conn: AsyncConnection) -> set[str]:
    """Types of QUEUED jobs that no live worker handles (the /jobs page flags those jobs)."""
    snapshot = await read_snapshot(conn, include_recent=False)
    return set(snapshot.unhandled)
