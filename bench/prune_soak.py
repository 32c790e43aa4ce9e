"""Does pruning keep pace with the drain? ``python -m bench.prune_soak [--rate 2000] [--seconds 600] [--finished]``.

One worker (``python -m worker``, ``JOB_RETENTION_DAYS`` set to ``--retention-seconds``) drains no-op
PINGs that this process inserts at ``--rate`` jobs/s (a batch every 100 ms) on the bench's durable
PostgreSQL (fsync on). Before it starts, ``--backlog`` finished jobs (each with its attempt row) that
are already past the retention wait in the table: the first rounds must delete them while the inserts
go on, which measures how fast pruning catches up when it is behind. With ``--finished`` the inserted jobs are
already COMPLETED (each with its attempt row, as a completion leaves it): the worker only prunes, so the
rate measures pruning alone when this machine cannot also drain it. Every ``--sample`` seconds a line:
rows in jobs, how many are QUEUED, heap and total size, dead tuples, deletes per second since the last
sample. The table is flat when, over the second half of the run, rows and size stop growing.

Heartbeats: ``--sleepers`` jobs are inserted IN_PROGRESS among the others (owned by this process, with
a long lease, so no worker touches them) and their leases are extended every ``--heartbeat-every``
seconds with the worker's own statement (job_extend_leases); each heartbeat's transaction reads
pg_stat_xact_user_tables, so the HOT share of heartbeat updates is measured alone, under the churn.

Results go to bench/results/prune-soak-<stamp>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bench import machine
from bench.server import BenchServer
from common.sql import query

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WORK = REPO / "bench" / ".work" / "prune_soak"
WS = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"

BACKLOG = """
WITH old AS (
    INSERT INTO jobs (workspace_id, type, status, payload, result, attempts, created_at, run_at, started_at,
                      completed_at)
    SELECT %(ws)s, 'PING', 'COMPLETED', '{}', '{"pong": true}', 1, t, t, t, t
    FROM (SELECT now() - interval '1 day' - make_interval(secs => i / 1000.0) AS t
          FROM generate_series(1, %(n)s) AS i) AS g
    RETURNING id, started_at
)
INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, outcome)
SELECT id, 1, 'backlog', started_at, 'completed' FROM old
"""
INSERT = "INSERT INTO jobs (workspace_id, type, payload) SELECT %(ws)s, 'PING', '{}' FROM generate_series(1, %(n)s)"
# --finished: jobs as the worker leaves them (COMPLETED, with their attempt row), so that only pruning is
# measured, not whether this machine's worker can drain the rate too.
INSERT_FINISHED = """
WITH done AS (
    INSERT INTO jobs (workspace_id, type, status, payload, result, attempts, started_at, completed_at)
    SELECT %(ws)s, 'PING', 'COMPLETED', '{}', '{"pong": true}', 1, now(), now() FROM generate_series(1, %(n)s)
    RETURNING id, started_at
)
INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, outcome)
SELECT id, 1, 'soak', started_at, 'completed' FROM done
"""
SLEEPER = """INSERT INTO jobs (workspace_id, type, status, payload, attempts, started_at, locked_by, lease_expires_at)
VALUES (%(ws)s, 'PING', 'IN_PROGRESS', '{}', 1, now(), 'soak-heartbeat', now() + interval '1 hour')
RETURNING id::text"""
SAMPLE = """
SELECT (SELECT count(*) FROM jobs) AS rows,
       (SELECT count(*) FROM jobs WHERE status = 'QUEUED') AS queued,
       pg_relation_size('jobs') AS heap_bytes, pg_total_relation_size('jobs') AS total_bytes,
       pg_total_relation_size('job_attempts') AS attempts_bytes,
       s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del, s.n_dead_tup, s.autovacuum_count
FROM pg_stat_user_tables AS s WHERE s.relname = 'jobs'
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inserter(threading.Thread):
    """``rate`` jobs/s in batches every 100 ms, on schedule (a late batch is made up by the next)."""

    def __init__(self, url: str, rate: int, sql: str) -> None:
        super().__init__(daemon=True)
        self.url, self.rate, self.sql, self.inserted = url, rate, sql, 0
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                owed = int((time.monotonic() - started) * self.rate) - self.inserted
                if owed > 0:
                    conn.execute(self.sql, {"ws": WS, "n": owed})
                    self.inserted += owed
                self.stop.wait(0.1)


class Heartbeats(threading.Thread):
    """Holds ``count`` IN_PROGRESS jobs and extends their leases with the worker's statement."""

    def __init__(self, url: str, count: int, every: float, start_after: float) -> None:
        super().__init__(daemon=True)
        self.url, self.count, self.every, self.start_after = url, count, every, start_after
        self.updates = self.hot = 0
        self.stop = threading.Event()

    def run(self) -> None:
        if self.count == 0 or self.stop.wait(self.start_after):  # insert them among the churn, not before it
            return
        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            held = []
            for _ in range(self.count):
                held.append(conn.execute(SLEEPER, {"ws": WS}).fetchone()["id"])  # type: ignore[index]
                time.sleep(0.05)
            params = {"held": Jsonb([{"id": i, "attempts": 1} for i in held]), "worker_id": "soak-heartbeat",
                      "lease_seconds": 3600, "types": ["PING"]}
            while not self.stop.wait(self.every):
                with conn.transaction():
                    conn.execute(query("job_extend_leases"), params).fetchall()
                    row = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                                       "WHERE relname = 'jobs'").fetchone()
                assert row is not None
                self.updates += row["n_tup_upd"]
                self.hot += row["n_tup_hot_upd"]


def _wait_healthy(port: int, worker: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until the worker answers /healthz (start-up takes seconds on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited with {worker.returncode}: see {WORK / 'worker.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the worker did not answer /healthz within {timeout:.0f} s")


def _sample(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute(SAMPLE).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="jobs inserted per second")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--retention-seconds", type=float, default=60, help="JOB_RETENTION_DAYS, in seconds")
    parser.add_argument("--backlog", type=int, default=200_000, help="finished jobs past retention at the start")
    parser.add_argument("--sample", type=float, default=10)
    parser.add_argument("--sleepers", type=int, default=20)
    parser.add_argument("--heartbeat-every", type=float, default=1.0)
    parser.add_argument("--env", action="append", default=[], help="K=V for the worker")
    parser.add_argument("--finished", action="store_true",
                        help="insert the jobs already COMPLETED: measure pruning alone, not the drain")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    server = BenchServer(WORK / "pg")
    server.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        url = server.create_database("bench_prune_soak")
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO), "SERVICE_MODE": "worker",
               "PORT": str(_free_port()), "LOG_LEVEL": "WARNING", "POLL_INTERVAL_SECONDS": "5",
               "JOB_RETENTION_DAYS": repr(args.retention_seconds / 86400),
               **dict(kv.split("=", 1) for kv in args.env)}
        subprocess.run([sys.executable, "-m", "common.migrate"], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            if args.backlog:
                conn.execute(BACKLOG, {"ws": WS, "n": args.backlog})
                conn.execute("VACUUM ANALYZE jobs")
            first = _sample(conn)
            log = (WORK / "worker.log").open("wb")
            worker = subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
            _wait_healthy(int(env["PORT"]), worker)
            inserter = Inserter(url, args.rate, INSERT_FINISHED if args.finished else INSERT)
            beats = Heartbeats(url, args.sleepers, args.heartbeat_every, start_after=min(20.0, args.seconds / 4))
            started = time.monotonic()
            inserter.start()
            beats.start()
            samples = [{"t": 0.0, **first}]
            print(f"{'t s':>6} {'rows':>9} {'queued':>8} {'heap MB':>8} {'total MB':>9} {'dead':>8} "
                  f"{'del/s':>7} {'ins/s':>7} {'autovac':>7}", flush=True)
            while time.monotonic() - started < args.seconds:
                time.sleep(args.sample)
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with {worker.returncode}: see {WORK / 'worker.log'}")
                s = {"t": round(time.monotonic() - started, 1), **_sample(conn)}
                prev = samples[-1]
                dt = s["t"] - prev["t"]
                s["del_per_s"] = round((s["n_tup_del"] - prev["n_tup_del"]) / dt)
                s["ins_per_s"] = round((s["n_tup_ins"] - prev["n_tup_ins"]) / dt)
                samples.append(s)
                print(f"{s['t']:6.0f} {s['rows']:9,} {s['queued']:8,} {s['heap_bytes'] / 2**20:8.1f} "
                      f"{s['total_bytes'] / 2**20:9.1f} {s['n_dead_tup']:8,} {s['del_per_s']:7,} "
                      f"{s['ins_per_s']:7,} {s['autovacuum_count']:7}", flush=True)
            inserter.stop.set()
            beats.stop.set()
            inserter.join()
            beats.join()
            elapsed = time.monotonic() - started
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        server.stop()
    report(args, samples, inserter.inserted / elapsed, beats)


def report(args: argparse.Namespace, samples: list[dict[str, Any]], insert_rate: float, beats: Heartbeats) -> None:
    # Caught up: the first sample at which the table holds no more than the retention's worth of jobs.
    steady_rows = args.rate * (args.retention_seconds + 15)
    caught = next((s for s in samples[1:] if s["rows"] <= steady_rows + args.sleepers), None)
    half = [s for s in samples if s["t"] >= args.seconds / 2]
    backlog_rate = None
    if caught is not None and args.backlog:
        backlog_rate = round((caught["n_tup_del"] - samples[0]["n_tup_del"]) / caught["t"])
    summary = {
        "rate_asked": args.rate, "rate_inserted": round(insert_rate), "seconds": args.seconds,
        "inserted_finished": args.finished,
        "retention_seconds": args.retention_seconds, "backlog": args.backlog,
        "backlog_cleared_after_s": caught["t"] if caught else None,
        "delete_rate_while_behind": backlog_rate,
        "second_half": {
            "rows_min": min(s["rows"] for s in half), "rows_max": max(s["rows"] for s in half),
            "queued_max": max(s["queued"] for s in half),
            "total_mb_first": round(half[0]["total_bytes"] / 2**20, 1),
            "total_mb_last": round(half[-1]["total_bytes"] / 2**20, 1),
            "delete_rate": round((half[-1]["n_tup_del"] - half[0]["n_tup_del"]) / max(1, half[-1]["t"] - half[0]["t"])),
        },
        "heartbeats": {"updates": beats.updates, "hot": beats.hot,
                       "hot_share": round(beats.hot / beats.updates, 4) if beats.updates else None},
        "table_hot_share": round(samples[-1]["n_tup_hot_upd"] / max(1, samples[-1]["n_tup_upd"]), 4),
        "machine": machine.facts(),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"prune-soak-{stamp}.json").write_text(json.dumps({"summary": summary, "samples": samples}, indent=2)
                                                      + "\n")
    h = summary["second_half"]
    hb = summary["heartbeats"]
    lines = [
        f"# Prune soak: {summary['rate_inserted']:,} jobs/s "
        f"{'inserted finished' if args.finished else 'drained by one worker'} for {args.seconds:.0f} s, retention "
        f"{args.retention_seconds:.0f} s, {args.backlog:,} finished jobs behind at the start", "",
        f"- backlog cleared after {summary['backlog_cleared_after_s']} s, deleting {backlog_rate} rows/s "
        "while behind (inserts going on)",
        f"- second half: rows {h['rows_min']:,}–{h['rows_max']:,} (queued at most {h['queued_max']:,}), "
        f"jobs total size {h['total_mb_first']} → {h['total_mb_last']} MB, deleting {h['delete_rate']:,} rows/s",
        f"- heartbeats: {hb['hot']:,} of {hb['updates']:,} lease extensions were HOT ({hb['hot_share']}); "
        f"the whole table: {summary['table_hot_share']} of its updates",
    ]
    (RESULTS / f"prune-soak-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
