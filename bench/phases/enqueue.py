"""Enqueue rate with no worker running: one client, many concurrent clients, and batches."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from bench.phases.common import Target, reset


def _single_inserts(url: str, sql: str, stop_at: list[float], counts: list[int], index: int,
                    barrier: threading.Barrier) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        barrier.wait()
        barrier.wait()  # the second wait: the main thread has set the stop time
        done = 0
        while time.monotonic() < stop_at[0]:
            conn.execute(sql)  # type: ignore[arg-type]
            done += 1
        counts[index] = done


def concurrent_inserts(url: str, sql: str, clients: int, duration: float) -> dict[str, Any]:
    """Jobs/s from ``clients`` connections, each committing ``sql`` (one single-row insert) after another."""
    counts = [0] * clients
    barrier = threading.Barrier(clients + 1, timeout=60)
    stop_at = [0.0]
    threads = [threading.Thread(target=_single_inserts, args=(url, sql, stop_at, counts, i, barrier))
               for i in range(clients)]
    # Every client connects first; the clock starts when all of them are ready.
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    stop_at[0] = started + duration
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"jobs_per_s": sum(counts) / elapsed, "jobs": sum(counts), "clients": clients}


def singles(target: Target, clients: int, duration: float) -> dict[str, Any]:
    """Jobs/s from ``clients`` connections of the system's own single-job enqueue."""
    reset(target)
    return concurrent_inserts(target.url, target.system.enqueue_one_sql(record=False), clients, duration)


def batches(target: Target, batch_size: int, duration: float) -> dict[str, Any]:
    """Jobs/s from one client inserting ``batch_size`` jobs per statement."""
    reset(target)
    jobs = 0
    with psycopg.connect(target.url, autocommit=True) as conn:
        started = time.monotonic()
        while time.monotonic() - started < duration:
            target.system.enqueue_batch(conn, batch_size)
            jobs += batch_size
        elapsed = time.monotonic() - started
    return {"jobs_per_s": jobs / elapsed, "jobs": jobs, "batch_size": batch_size}
