"""What the jobs_queued NOTIFY costs concurrent enqueuers, in the three situations that matter.

- no worker: nobody waits, so the trigger sends nothing;
- a worker draining while clients insert: it marks itself waiting only when it runs out of work;
- always notify: a permanent row in worker_waiting, i.e. the cost every insert paid before the trigger
  learned to stay quiet while no worker waits (and the cost of a NOTIFY-per-insert design);
- trigger disabled: the floor.

    .venv/bin/python -m bench.notify_cost [--clients 16] [--seconds 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.phases.enqueue import concurrent_inserts
from common.embedded_pg import EmbeddedPostgres
from common.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
INSERT = f"INSERT INTO jobs (workspace_id, type, status, payload) VALUES ('{WORKSPACE}', 'PING', 'QUEUED', '{{}}')"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="rg-bench-notify-"))
    server = EmbeddedPostgres(data_dir, port=_port())  # fsync on, as in production
    results: dict[str, list[float]] = {}
    try:
        url = server.start()
        migrate(url, WORKSPACE)

        def sql(statement: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(statement)  # type: ignore[arg-type]

        def measure(name: str) -> None:
            for _ in range(args.repeats):
                sql("TRUNCATE jobs CASCADE")  # and its attempt history
                measured = concurrent_inserts(url, INSERT, args.clients, args.seconds)
                results.setdefault(name, []).append(measured["jobs_per_s"])

        measure("no worker (nobody waits: no NOTIFY)")
        env = {**os.environ, "DATABASE_URL": url, "PORT": str(_port()), "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.0)
            measure("one worker draining meanwhile (c=4)")
        finally:
            worker.terminate()
            worker.wait(15)
        sql("INSERT INTO worker_waiting (worker_id) VALUES ('always-waiting') ON CONFLICT DO NOTHING")
        measure("a NOTIFY on every insert (a worker always waiting)")
        sql("DELETE FROM worker_waiting")
        sql("ALTER TABLE jobs DISABLE TRIGGER jobs_queued_notify")
        measure("trigger disabled (floor)")
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"| {args.clients} clients, single-row inserts | jobs/s (median) | min–max |\n|---|---|---|")
    for name, runs in results.items():
        print(f"| {name} | {statistics.median(runs):,.0f} | {min(runs):,.0f}–{max(runs):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
