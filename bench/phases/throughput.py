"""Drain throughput: workers idle and listening, N jobs committed in one batch, time until none is left."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from bench.phases.common import Target, check_exactly_once, reset, start_workers, wait_drained


def drain(target: Target, jobs: int, procs: int, concurrency: int, log_dir: Path,
          time_limit: float, *, analyze: bool = False) -> dict[str, Any]:
    """Jobs/s over the drain; a drain cut by ``time_limit`` counts the jobs finished by then. ``analyze``:
    ``ANALYZE`` the database right after the insert (its time counted), so that the claims are planned
    with statistics that know the new jobs (bench/drain.py --analyze)."""
    reset(target)
    group = start_workers(target, procs, concurrency, log_dir)
    try:
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute(target.system.enqueue_batch_sql(), {"n": jobs})  # type: ignore[arg-type]
            analyzed_from = time.monotonic()
            if analyze:
                conn.execute("ANALYZE")
        started = analyzed_from if analyze else time.monotonic()
        remaining = wait_drained(target, group, started + time_limit, must_finish=False)
        elapsed = time.monotonic() - started
    finally:
        group.stop()
    if remaining == 0:
        check_exactly_once(target)
    done = jobs - remaining
    return {"jobs_per_s": done / elapsed, "seconds": elapsed, "done": done, "complete": remaining == 0}
