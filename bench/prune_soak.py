"""Does pruning keep pace with the drain? ``python -m bench.prune_soak [--rate 2000] [--seconds 600] [--finished]
[--table-settings schema|defaults] [--env WORKER_PROCESSES=2]``.

One worker instance (``python -m worker``, ``JOB_RETENTION_DAYS`` set to ``--retention-seconds``) drains no-op
PINGs that this process inserts at ``--rate`` jobs/s (a batch every 100 ms) on the bench's durable
PostgreSQL (fsync on). Before it starts, ``--backlog`` finished jobs (each with its attempt row) that
are already past the retention wait in the table: the first rounds must delete them while the inserts
go on, which measures how fast pruning catches up when it is behind. With ``--finished`` the inserted jobs are
already COMPLETED (each with its attempt row, as a completion leaves it): the worker only prunes, so the
rate measures pruning alone when this machine cannot also drain it. Every ``--sample`` seconds a line:
rows in jobs, how many are QUEUED, heap and total size, dead tuples, deletes per second since the last
sample, and the queue wait (``started_at - run_at``, p50/p99) of the jobs completed since the last one.
The summary splits the run into thirds (first, middle, last): rows, heap, index and total size, dead
tuples, QUEUED, deletes/s and autovacuum runs in each. The table is flat when the last third is no larger
than the middle one.

Autovacuum and fillfactor: ``--table-settings defaults`` resets the storage parameters that
sql/schema.sql sets on ``jobs`` (``ALTER TABLE jobs RESET (...)``) to PostgreSQL's defaults before the
backlog goes in, so two runs of the same shape compare the schema's settings with the defaults.

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
# The storage parameters sql/schema.sql sets on jobs; --table-settings defaults resets them.
TABLE_SETTINGS = ["fillfactor", "autovacuum_vacuum_scale_factor", "autovacuum_vacuum_threshold",
                  "autovacuum_vacuum_insert_scale_factor", "autovacuum_analyze_scale_factor",
                  "autovacuum_vacuum_cost_delay"]
SAMPLE = """
SELECT (SELECT count(*) FROM jobs) AS rows,
       (SELECT count(*) FROM jobs WHERE status = 'QUEUED') AS queued,
       pg_relation_size('jobs') AS heap_bytes, pg_indexes_size('jobs') AS index_bytes,
       pg_total_relation_size('jobs') AS total_bytes,
       pg_total_relation_size('job_attempts') AS attempts_bytes,
       s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del, s.n_dead_tup, s.autovacuum_count
FROM pg_stat_user_tables AS s WHERE s.relname = 'jobs'
"""
# Queue wait (run_at -> started_at, the claim's latency under load) of the jobs completed lately, in ms.
WAIT = """
SELECT count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY started_at - run_at) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY started_at - run_at) AS p99
FROM jobs WHERE status = 'COMPLETED' AND completed_at > now() - make_interval(secs => %(seconds)s)
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


def _sample(conn: psycopg.Connection[Any], window: float) -> dict[str, Any]:
    row = conn.execute(SAMPLE).fetchone()
    wait = conn.execute(WAIT, {"seconds": window}).fetchone()
    assert row is not None and wait is not None
    ms = {k: round(wait[k].total_seconds() * 1000, 1) if wait[k] is not None else None for k in ("p50", "p99")}
    return {**{k: int(v) for k, v in row.items()}, "wait_p50_ms": ms["p50"], "wait_p99_ms": ms["p99"]}


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
    parser.add_argument("--table-settings", choices=["schema", "defaults"], default="schema",
                        help="jobs' fillfactor/autovacuum as sql/schema.sql sets them, or PostgreSQL's defaults")
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
            if args.table_settings == "defaults":
                conn.execute(f"ALTER TABLE jobs RESET ({', '.join(TABLE_SETTINGS)})")
            reloptions = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'jobs'").fetchone()
            if args.backlog:
                conn.execute(BACKLOG, {"ws": WS, "n": args.backlog})
                conn.execute("VACUUM ANALYZE jobs")
            first = _sample(conn, args.sample)
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
                  f"{'del/s':>7} {'ins/s':>7} {'autovac':>7} {'wait p50/p99 ms':>16}", flush=True)
            while time.monotonic() - started < args.seconds:
                time.sleep(args.sample)
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with {worker.returncode}: see {WORK / 'worker.log'}")
                s = {"t": round(time.monotonic() - started, 1), **_sample(conn, args.sample)}
                prev = samples[-1]
                dt = s["t"] - prev["t"]
                s["del_per_s"] = round((s["n_tup_del"] - prev["n_tup_del"]) / dt)
                s["ins_per_s"] = round((s["n_tup_ins"] - prev["n_tup_ins"]) / dt)
                samples.append(s)
                print(f"{s['t']:6.0f} {s['rows']:9,} {s['queued']:8,} {s['heap_bytes'] / 2**20:8.1f} "
                      f"{s['total_bytes'] / 2**20:9.1f} {s['n_dead_tup']:8,} {s['del_per_s']:7,} "
                      f"{s['ins_per_s']:7,} {s['autovacuum_count']:7} {s['wait_p50_ms']!s:>7}/{s['wait_p99_ms']!s:<8}",
                      flush=True)
            inserter.stop.set()
            beats.stop.set()
            inserter.join()
            beats.join()
            elapsed = time.monotonic() - started
            load = os.getloadavg()
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        server.stop()
    assert reloptions is not None
    report(args, samples, inserter.inserted / elapsed, beats, {"reloptions": reloptions["reloptions"],
                                                               "load_average_end": [round(x, 1) for x in load]})


def thirds(samples: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """First, middle and last third of the run: the range of each gauge, the rate of each counter."""
    out = []
    for i in range(3):  # a sample at 200.3 s of 600 belongs to the first third (sampling runs a little late)
        part = [s for s in samples[1:] if i * seconds / 3 < s["t"] - 1 <= (i + 1) * seconds / 3]
        if not part:
            continue
        before = samples[samples.index(part[0]) - 1]
        dt = max(1.0, part[-1]["t"] - before["t"])
        p50s = sorted(s["wait_p50_ms"] for s in part if s["wait_p50_ms"] is not None)
        p99s = [s["wait_p99_ms"] for s in part if s["wait_p99_ms"] is not None]
        out.append({
            "from_s": round(before["t"]), "to_s": round(part[-1]["t"]),
            **{f"{k}_{f.__name__}": f(s[k] for s in part)
               for k in ("rows", "queued", "n_dead_tup") for f in (min, max)},
            **{f"{k[:-6]}_mb_{f.__name__}": round(f(s[k] for s in part) / 2**20, 1)
               for k in ("heap_bytes", "index_bytes", "total_bytes") for f in (min, max)},
            "total_mb_end": round(part[-1]["total_bytes"] / 2**20, 1),
            "delete_rate": round((part[-1]["n_tup_del"] - before["n_tup_del"]) / dt),
            "insert_rate": round((part[-1]["n_tup_ins"] - before["n_tup_ins"]) / dt),
            "autovacuums": part[-1]["autovacuum_count"] - before["autovacuum_count"],
            "wait_p50_ms_median": p50s[len(p50s) // 2] if p50s else None,
            "wait_p99_ms_max": max(p99s) if p99s else None,
        })
    return out


def report(args: argparse.Namespace, samples: list[dict[str, Any]], insert_rate: float, beats: Heartbeats,
           extra: dict[str, Any]) -> None:
    # Caught up: the first sample at which the table holds no more than the retention's worth of jobs.
    steady_rows = args.rate * (args.retention_seconds + 15)
    caught = next((s for s in samples[1:] if s["rows"] <= steady_rows + args.sleepers), None)
    half = [s for s in samples if s["t"] >= args.seconds / 2]
    backlog_rate = None
    if caught is not None and args.backlog:
        backlog_rate = round((caught["n_tup_del"] - samples[0]["n_tup_del"]) / caught["t"])
    parts = thirds(samples, args.seconds)
    summary = {
        "rate_asked": args.rate, "rate_inserted": round(insert_rate), "seconds": args.seconds,
        "inserted_finished": args.finished, "table_settings": args.table_settings, **extra,
        "worker_env": args.env,
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
        "thirds": parts,
        # Flat: the last third's largest table is no larger than the middle third's (within 2 %).
        "flat": len(parts) == 3 and parts[2]["total_mb_max"] <= parts[1]["total_mb_max"] * 1.02
        and parts[2]["rows_max"] <= parts[1]["rows_max"] * 1.02,
        "autovacuum_runs": samples[-1]["autovacuum_count"] - samples[0]["autovacuum_count"],
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
        f"{'inserted finished' if args.finished else 'drained by the worker'} for {args.seconds:.0f} s, retention "
        f"{args.retention_seconds:.0f} s, {args.backlog:,} finished jobs behind at the start", "",
        f"- backlog cleared after {summary['backlog_cleared_after_s']} s, deleting {backlog_rate} rows/s "
        "while behind (inserts going on)",
        f"- second half: rows {h['rows_min']:,}–{h['rows_max']:,} (queued at most {h['queued_max']:,}), "
        f"jobs total size {h['total_mb_first']} → {h['total_mb_last']} MB, deleting {h['delete_rate']:,} rows/s",
        f"- heartbeats: {hb['hot']:,} of {hb['updates']:,} lease extensions were HOT ({hb['hot_share']}); "
        f"the whole table: {summary['table_hot_share']} of its updates",
        f"- table settings: {args.table_settings} ({extra['reloptions']}); autovacuum ran "
        f"{summary['autovacuum_runs']} times; flat (last third ≤ middle third + 2 %): {summary['flat']}; "
        f"load average at the end {extra['load_average_end']}", "",
        "| third | rows | queued max | heap MB | index MB | total MB | dead tuples | deletes/s | autovacuums "
        "| wait p50 / p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {p['from_s']}–{p['to_s']} s | {p['rows_min']:,}–{p['rows_max']:,} | {p['queued_max']:,} "
          f"| {p['heap_mb_min']}–{p['heap_mb_max']} | {p['index_mb_min']}–{p['index_mb_max']} "
          f"| {p['total_mb_min']}–{p['total_mb_max']} | {p['n_dead_tup_min']:,}–{p['n_dead_tup_max']:,} "
          f"| {p['delete_rate']:,} | {p['autovacuums']} | {p['wait_p50_ms_median']} / {p['wait_p99_ms_max']} |"
          for p in parts),
    ]
    (RESULTS / f"prune-soak-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
