"""The seed's 60-line loop as a harness system: the floor that a queue with no leases sets.

Schema: the seed document's "Database Schema" (its ``jobs`` table, no index beyond the primary key, and a
``workspaces`` table for its foreign key), with the built-in ``gen_random_uuid()`` for its
``uuid_generate_v4()`` (the same random v4 UUID; the embedded server has no uuid-ossp extension).
Insert: the statement the bench sends report-generator, so that target 3 compares the two tables (ours
with its trigger and indexes), not two clients. Worker: bench/competitors/seed_loop.py, one job per tick,
three autocommitted statements.

The seed polls every 5 s, which would measure its sleep (pickup ≈ 2.5 s, a drain of 0.2 jobs/s); here it
ticks every ``interval_ms`` (1 ms), so that what is measured is its statements: a busy poll, the floor
for pickup. It has one setting (none for concurrency) and no leases: two processes would run jobs
twice, so the multi-process drains leave it out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from bench.systems.base import System, WorkerSpec
from bench.systems.reportgen import INSERT, WORKSPACE

LOOP = Path(__file__).resolve().parents[1] / "competitors" / "seed_loop.py"

SCHEMA = f"""
CREATE TABLE workspaces (id UUID PRIMARY KEY, name TEXT);
INSERT INTO workspaces (id, name) VALUES ('{WORKSPACE}', 'default');
CREATE TABLE jobs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id UUID NOT NULL REFERENCES workspaces(id),
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  payload JSONB NOT NULL,
  result JSONB,
  error TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  started_at TIMESTAMPTZ,
  completed_at TIMESTAMPTZ
);
"""


class SeedLoop(System):
    name = "seed loop (no leases)"
    database = "bench_seed"
    default_concurrency = 1
    tuned_concurrency = 1
    concurrency_note = "none: one job per tick; tick every 1 ms (the seed: 5 s)"
    max_procs = 1
    max_procs_reason = "no leases: two loops take the same job and run it twice"

    def __init__(self, interval_ms: float = 1.0) -> None:
        self.interval_ms = interval_ms

    def setup(self, url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)  # type: ignore[arg-type]

    def reset_sql(self) -> str:
        return "TRUNCATE jobs"

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        return WorkerSpec([sys.executable, str(LOOP), url, "--interval-ms", str(self.interval_ms)])

    def enqueue_one_sql(self, record: bool) -> str:
        payload = '{"r": 1}' if record else "{}"
        return INSERT + f"VALUES ('{WORKSPACE}', 'PING', 'QUEUED', '{payload}') RETURNING id::text, txid_current()"

    def enqueue_batch_sql(self) -> str:
        return INSERT + f"SELECT '{WORKSPACE}', 'PING', 'QUEUED', '{{}}' FROM generate_series(1, %(n)s)"

    def unfinished_sql(self) -> str:
        return "SELECT count(*) FROM jobs WHERE status IN ('QUEUED', 'IN_PROGRESS')"

    def check_sql(self) -> str:
        return "SELECT count(*) FROM jobs WHERE status <> 'COMPLETED'"  # no attempts column to count runs by

    def versions(self) -> dict[str, str]:
        commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(LOOP)], cwd=LOOP.parent,
                                capture_output=True, text=True, check=False).stdout.strip()
        return {"seed loop": commit or "uncommitted"}
