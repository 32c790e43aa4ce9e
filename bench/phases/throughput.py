"""Drain throughput: workers idle and listening, N jobs committed in one batch, time until none is left."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from bench.cpu_per_job import CpuMeter, backends
from bench.phases.common import Target, check_exactly_once, reset, start_workers, wait_drained


def drain(target: Target, jobs: int, procs: int, concurrency: int, log_dir: Path,
          time_limit: float, *, analyze: bool = False, cpu: bool = False) -> dict[str, Any]:
    """Jobs/s over the drain; a drain cut by ``time_limit`` counts the jobs finished by then. ``analyze``:
    ``ANALYZE`` the database right after the insert (its time counted), so that the claims are planned
    with statistics that know the new jobs (bench/drain.py --analyze). ``cpu``: also the CPU per job of
    the worker processes and of each backend serving them (``cpu_us_per_job``, bench/cpu_per_job.py)."""
    reset(target)
    group = start_workers(target, procs, concurrency, log_dir)
    meter = None
    try:
        if cpu:  # the worker's connections are open (it has run its warm-up jobs); the bench's are not yet
            meter = CpuMeter({**backends(target.url), **{p.pid: "worker" for p in group.processes}})
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute(target.system.enqueue_batch_sql(), {"n": jobs})  # type: ignore[arg-type]
            analyzed_from = time.monotonic()
            if analyze:
                conn.execute("ANALYZE")
        started = analyzed_from if analyze else time.monotonic()
        if meter is not None:
            meter.start()
        remaining = wait_drained(target, group, started + time_limit, must_finish=False)
        elapsed = time.monotonic() - started
        if meter is not None:
            meter.stop()
    finally:
        group.stop()
    if remaining == 0:
        check_exactly_once(target)
    done = jobs - remaining
    result: dict[str, Any] = {"jobs_per_s": done / elapsed, "seconds": elapsed, "done": done,
                              "complete": remaining == 0}
    if meter is not None and done:
        result["cpu_us_per_job"] = meter.per_job_us(done)
    return result
