"""Queue depth and recent latency, read from the database when /metrics is scraped.

QUEUED counts are exact up to ``EXACT_COUNT_CAP`` jobs of a type and the planner's estimate above it
(a count that stops at the cap reads at most that many index entries, however long the backlog);
IN_PROGRESS counts are exact (the jobs in flight). Finished states are exact below
``EXACT_FINISHED_BELOW_ROWS`` rows and estimated above from a sample of ``SAMPLE_BLOCKS`` random blocks
of the table, so that a scrape reads the same number of blocks at any size of the table. The dashboard
and /jobs show their workspace's counts the same way: exact up to the cap, "10,000+" above it
(``count_label``).
"""

from __future__ import annotations

from psycopg import AsyncConnection

from common.metrics import QueueSnapshot, snapshot_from_rows
from common.sql import query

EXACT_COUNT_CAP = 10_000  # River UI shows "10,000+" past the same cap
EXACT_FINISHED_BELOW_ROWS = 100_000
# Blocks read by the finished-jobs sample: each one a random read. 0.2 % of the table (20,000 rows) was
# 1,100 blocks and 23-29 ms at 10 M rows (docs/benchmarks.md); 300 blocks hold about 5,000 jobs.
SAMPLE_BLOCKS = 300
RECENT_WINDOW_SECONDS = 300
RECENT_SAMPLE_JOBS = 2000  # the latest jobs of the window: bounded at any throughput (5,000 took 28 ms at 1 M rows)


async def read_snapshot(conn: AsyncConnection, *, include_recent: bool) -> QueueSnapshot:
    active = await (await conn.execute(query("job_count_active"), {"cap": EXACT_COUNT_CAP})).fetchall()
    size = await (await conn.execute(query("job_table_size_estimate"))).fetchone()
    rows, blocks = (float(size["rows"]), float(size["blocks"])) if size else (0.0, 0.0)  # type: ignore[call-overload]
    if rows < EXACT_FINISHED_BELOW_ROWS:
        finished = await (await conn.execute(query("job_count_finished"))).fetchall()
    else:
        finished = await (await conn.execute(query("job_count_finished_sampled"),
                                             {"percent": sample_percent(blocks)})).fetchall()
    recent = []
    if include_recent:
        recent = await (await conn.execute(query("job_recent_latency"),
                                           {"window_seconds": RECENT_WINDOW_SECONDS,
                                            "limit": RECENT_SAMPLE_JOBS})).fetchall()
    handled = {r["type"] for r in await (await conn.execute(query("worker_handled_types"))).fetchall()}  # type: ignore[call-overload]
    return snapshot_from_rows(active, finished, recent, handled)  # type: ignore[arg-type]


def sample_percent(blocks: float) -> float:
    """The TABLESAMPLE SYSTEM percent that reads about ``SAMPLE_BLOCKS`` of a table of ``blocks`` blocks."""
    return 100.0 if blocks <= SAMPLE_BLOCKS else 100.0 * SAMPLE_BLOCKS / blocks


async def unhandled_types(conn: AsyncConnection) -> set[str]:
    """Types of QUEUED jobs that no live worker handles (the /jobs page flags those jobs)."""
    snapshot = await read_snapshot(conn, include_recent=False)
    return set(snapshot.unhandled)


async def workspace_queue_counts(conn: AsyncConnection, workspace_id: str) -> dict[str, int]:
    """QUEUED and IN_PROGRESS jobs of a workspace, each exact up to ``EXACT_COUNT_CAP`` (cap + 1 above)."""
    cur = await conn.execute(query("queue_counts"), {"workspace_id": workspace_id, "cap": EXACT_COUNT_CAP})
    return {r["status"]: int(r["n"]) for r in await cur.fetchall()}  # type: ignore[call-overload]


def count_label(n: int) -> str:
    """A count as a page shows it: "1,234", or "10,000+" when the count stopped at the cap."""
    return f"{EXACT_COUNT_CAP:,}+" if n > EXACT_COUNT_CAP else f"{n:,}"
