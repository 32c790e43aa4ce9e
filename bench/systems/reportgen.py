"""report-generator's own worker (``python -m worker``), fed by the seed's plain SQL insert."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import psycopg

from bench.systems.base import System, WorkerSpec

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
INSERT = "INSERT INTO jobs (workspace_id, type, status, payload) "


class ReportGenerator(System):
    name = "report-generator"
    database = "bench_reportgen"
    default_concurrency = 4
    tuned_concurrency = 128  # slots = claim batch size; completions ride along with each claim
    concurrency_note = "WORKER_CONCURRENCY (PING runs in WORKER_LIGHT_CONCURRENCY slots: 64 at defaults)"

    def __init__(self, poll_interval: float = 5.0) -> None:
        self.poll_interval = poll_interval

    def setup(self, url: str) -> None:
        subprocess.run([sys.executable, "-m", "common.migrate"], cwd=REPO, check=True,
                       env=self.base_env(url), stdout=subprocess.DEVNULL)

    def base_env(self, url: str) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}

    def reset_sql(self) -> str:
        return "TRUNCATE jobs CASCADE"

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        # Tuned: the light slots (PING's) as wide as the rest; at defaults, the worker's own default.
        light = {"WORKER_LIGHT_CONCURRENCY": str(concurrency)} if concurrency > self.default_concurrency else {}
        env = {**light, "DATABASE_URL": url, "WORKER_CONCURRENCY": str(concurrency), "PORT": str(port),
               "POLL_INTERVAL_SECONDS": str(self.poll_interval), "LOG_LEVEL": "WARNING",
               "SERVICE_MODE": "worker", "PYTHONPATH": str(REPO)}
        return WorkerSpec([sys.executable, "-m", "worker"], env=env, cwd=REPO, port=port)

    def enqueue_one_sql(self, record: bool) -> str:
        return INSERT + f"VALUES ('{WORKSPACE}', 'PING', 'QUEUED', '{{}}') RETURNING id::text, txid_current()"

    def enqueue_batch_sql(self) -> str:
        return INSERT + f"SELECT '{WORKSPACE}', 'PING', 'QUEUED', '{{}}' FROM generate_series(1, %(n)s)"

    def unfinished_sql(self) -> str:
        return "SELECT count(*) FROM jobs WHERE status IN ('QUEUED', 'IN_PROGRESS')"

    def check_sql(self) -> str:
        return "SELECT count(*) FROM jobs WHERE attempts <> 1 OR status <> 'COMPLETED'"

    def handler_starts(self, url: str, ids: list[str], stdout_files: list[Path]) -> dict[str, float]:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT id::text, extract(epoch FROM (result ->> 'handler_started_at')::timestamptz)::float8 "
                "FROM jobs WHERE id = ANY(%s::uuid[]) AND status = 'COMPLETED'", [ids]).fetchall()
        return {str(i): float(ts) for i, ts in rows if ts is not None}

    def notify_triggers(self, url: str) -> list[str]:
        """The triggers on ``jobs`` that NOTIFY ``jobs_queued`` (found by their function's source)."""
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = 'jobs'::regclass AND NOT t.tgisinternal AND p.prosrc LIKE '%jobs_queued%'"
            ).fetchall()
        return [str(name) for (name,) in rows]

    def versions(self) -> dict[str, str]:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "worker", "common", "sql"], cwd=REPO,
                               capture_output=True, text=True, check=False).stdout.strip()
        return {"report-generator": commit + ("+uncommitted" if dirty else ""),
                "python": platform.python_version(), "psycopg": psycopg.__version__}


def set_notify(url: str, names: list[str], enabled: bool) -> None:
    """Enable or disable the NOTIFY trigger(s) on ``jobs`` (for the without-trigger and poll phases)."""
    action = "ENABLE" if enabled else "DISABLE"
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'ALTER TABLE jobs {action} TRIGGER "{name}"')  # type: ignore[arg-type]
