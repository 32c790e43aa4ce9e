"""Recovery times: how long after a ``kill -9`` a job runs again, and how long after PostgreSQL comes back
the worker picks work up again. Issue 3's two numbers; each measured a few times and reported as medians.

    .venv/bin/python -m bench.recovery [--repeats 3] [--leases 30,5]

Writes ``bench/results/recovery-<UTC timestamp>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from common.embedded_pg import EmbeddedPostgres
from common.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
RESULTS = REPO / "bench" / "results"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(url: str, **env: object) -> subprocess.Popen[bytes]:
    full = {**os.environ, "DATABASE_URL": url, "PORT": str(_port()), "LOG_LEVEL": "WARNING",
            **{k: str(v) for k, v in env.items()}}
    return subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _until(predicate: Any, timeout: float, what: str, interval: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"bench.recovery: {what} not seen within {timeout:g} s")


def _one(url: str, sql: str, *args: object) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, args).fetchone()
    return row[0] if row else None


def kill9_to_running_again(url: str, lease: float) -> float:
    """Seconds from SIGKILL of the worker running a job to the job's second attempt starting elsewhere."""
    victim = _worker(url, JOB_LEASE_SECONDS=lease)
    rescuer = None
    try:
        job_id = _one(url, "INSERT INTO jobs (workspace_id, type, payload) VALUES (%s, 'PING', "
                           "'{\"sleep_seconds\": 300}') RETURNING id", WORKSPACE)
        _until(lambda: _one(url, "SELECT status = 'IN_PROGRESS' FROM jobs WHERE id = %s", job_id), 30, "claim")
        rescuer = _worker(url, JOB_LEASE_SECONDS=lease)
        time.sleep(1.0)  # the rescuer is up and idle before the fault
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _until(lambda: _one(url, "SELECT attempts >= 2 AND status = 'IN_PROGRESS' FROM jobs WHERE id = %s",
                            job_id), 3 * lease + 30, "second attempt")
        return time.monotonic() - killed
    finally:
        for proc in (victim, rescuer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        _one(url, "DELETE FROM jobs RETURNING 1")


def restart_to_pickup(server: EmbeddedPostgres, url: str, outage: float) -> float:
    """Seconds from PostgreSQL accepting connections again to a job inserted at that moment completing."""
    worker = _worker(url, POLL_INTERVAL_SECONDS=5)
    try:
        time.sleep(1.5)
        server.stop()
        time.sleep(outage)
        server.start()
        back = time.monotonic()
        job_id = _one(url, "INSERT INTO jobs (workspace_id, type, payload) VALUES (%s, 'PING', '{}') RETURNING id",
                      WORKSPACE)
        _until(lambda: _one(url, "SELECT status = 'COMPLETED' FROM jobs WHERE id = %s", job_id), 60, "pickup")
        return time.monotonic() - back
    finally:
        worker.kill()
        worker.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--leases", default="30,5", help="JOB_LEASE_SECONDS values for the kill -9 case")
    parser.add_argument("--outages", default="2,20", help="seconds the database is down in the restart case")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="rg-bench-recovery-"))
    server = EmbeddedPostgres(data_dir, port=_port())  # durable settings, as in production
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "repeats": args.repeats}
    try:
        url = server.start()
        migrate(url, WORKSPACE)
        for lease in (float(x) for x in args.leases.split(",") if x):
            runs = [kill9_to_running_again(url, lease) for _ in range(args.repeats)]
            results[f"kill9_lease_{lease:g}s"] = runs
        for outage in (float(x) for x in args.outages.split(",")):
            results[f"restart_after_{outage:g}s_outage_pickup"] = [restart_to_pickup(server, url, outage)
                                                                   for _ in range(args.repeats)]
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"recovery-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2))
    print("| measurement | median (s) | min–max (s) |\n|---|---|---|")
    for key, runs in results.items():
        if isinstance(runs, list):
            print(f"| {key} | {statistics.median(runs):.2f} | {min(runs):.2f}–{max(runs):.2f} |")
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
