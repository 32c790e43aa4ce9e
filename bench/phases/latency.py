"""Pickup latency: an idle, listening worker; single spaced inserts; handler start − insert commit."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.phases.common import PhaseError, Target, commit_times, reset, start_workers, wait_drained
from bench.stats import latency_summary
from bench.systems.base import WorkerGroup


def measure(target: Target, jobs: int, spacing: float, log_dir: Path, time_limit: float,
            env: dict[str, str] | None = None,
            during: Callable[[WorkerGroup], dict[str, Any]] | None = None,
            reset_first: bool = True) -> dict[str, Any]:
    """One repeat: ``jobs`` inserts ``spacing`` s apart (±25 %), each committed alone by autocommit."""
    if reset_first:
        reset(target)
    system = target.system
    deadline = time.monotonic() + time_limit
    group = start_workers(target, 1, system.default_concurrency, log_dir, env)
    extra: dict[str, Any] = {}
    try:
        ids: list[str] = []
        xids: list[int] = []
        sql = system.enqueue_one_sql(record=True)
        with psycopg.connect(target.url, autocommit=True) as conn:
            for _ in range(jobs):
                row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
                assert row is not None
                ids.append(str(row[0]))
                xids.append(int(row[1]))
                time.sleep(spacing * random.uniform(0.75, 1.25))
                if time.monotonic() > deadline:
                    break
        wait_drained(target, group, max(deadline, time.monotonic() + 10))
        if during is not None:
            extra = during(group)
        starts = system.handler_starts(target.url, ids, group.stdout_files)
    finally:
        group.stop()
    commits = commit_times(target.url, xids)
    missing = [i for i in ids if i not in starts]
    if missing:
        raise PhaseError(f"{system.name}: no handler start recorded for {len(missing)} of {len(ids)} jobs")
    latencies = [starts[i] - commits[x] for i, x in zip(ids, xids, strict=True)]
    return {**latency_summary(latencies), **extra}
