"""Scale: pickup latency and a /metrics scrape with a million finished jobs in report-generator's table."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import psycopg

from bench.phases.common import PhaseError, Target, reset
from bench.stats import latency_summary
from bench.systems.base import WorkerGroup
from bench.systems.reportgen import WORKSPACE


def seed_finished(target: Target, rows: int) -> float:
    """Insert ``rows`` COMPLETED PING jobs (user triggers off while seeding), then VACUUM ANALYZE."""
    reset(target)
    started = time.monotonic()
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE jobs DISABLE TRIGGER USER")
        try:
            conn.execute(
                "INSERT INTO jobs (workspace_id, type, status, payload, result, attempts, created_at, run_at, "
                "started_at, completed_at) "
                "SELECT %s, 'PING', 'COMPLETED', '{}', '{\"pong\": true}', 1, t, t, t, t "
                "FROM (SELECT now() - make_interval(secs => g / 100.0) AS t "
                "      FROM generate_series(1, %s) AS g) AS s", [WORKSPACE, rows])
        finally:
            conn.execute("ALTER TABLE jobs ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE jobs")
    return time.monotonic() - started


def scrape_metrics(group: WorkerGroup, scrapes: int) -> dict[str, Any]:
    """GET the worker's /metrics ``scrapes`` times; durations in the latency summary's form (ms)."""
    port = group.specs[0].port
    if port is None:
        raise PhaseError("the worker has no metrics port")
    durations = []
    for _ in range(scrapes):
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
        durations.append(time.perf_counter() - started)
        if "reportgen_jobs" not in body:
            raise PhaseError("/metrics answered without reportgen_jobs")
    return {f"metrics_{key}": value for key, value in latency_summary(durations).items()}
