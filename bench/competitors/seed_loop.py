"""The seed's worker loop (shared/seed/architecture-seed.md, "Job Processing"), for the bench.

Every tick: select the oldest QUEUED job (one), mark it IN_PROGRESS, run it, mark it COMPLETED: three
statements, each its own transaction (the seed's client sends each as its own request). No leases, no
attempts, no locking: two loops can take the same job, the seed's known flaw. What differs from the seed:
it talks to PostgreSQL directly (no HTTP API in between), and the tick interval is ``--interval-ms``
(the seed: 5,000) with ticks that never overlap (a tick that overruns starts the next at once).
The handler is a no-op; with payload ``{"r": 1}`` it prints ``S <job id> <epoch seconds>`` at its start.
Usage: ``python seed_loop.py <dsn> [--interval-ms N]``.
"""

import argparse
import sys
import time

import psycopg
from psycopg.rows import dict_row

SELECT_NEXT = "SELECT * FROM jobs WHERE status = 'QUEUED' ORDER BY created_at ASC LIMIT 1"
MARK_IN_PROGRESS = "UPDATE jobs SET status = 'IN_PROGRESS' WHERE id = %s"
MARK_COMPLETED = "UPDATE jobs SET status = 'COMPLETED' WHERE id = %s"


def process_job(job: dict) -> None:
    if job["payload"].get("r"):
        sys.stdout.write(f"S {job['id']} {time.time():.6f}\n")
        sys.stdout.flush()


def tick(conn: psycopg.Connection[dict]) -> None:
    job = conn.execute(SELECT_NEXT).fetchone()
    if job is None:
        return
    conn.execute(MARK_IN_PROGRESS, [job["id"]])
    process_job(job)
    conn.execute(MARK_COMPLETED, [job["id"]])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--interval-ms", type=float, default=5000.0)
    args = parser.parse_args()
    interval = args.interval_ms / 1000
    with psycopg.connect(args.dsn, autocommit=True, row_factory=dict_row) as conn:
        next_tick = time.monotonic()
        while True:
            tick(conn)
            next_tick += interval
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_tick = time.monotonic()


if __name__ == "__main__":
    main()
