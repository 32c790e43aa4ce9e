"""Pickup latency split into phases: ``python -m bench.pickup_trace [--jobs N] [--concurrency C]``.

One idle, listening worker (the bench server, fsync on); single spaced inserts of PING {"trace": true},
each committed alone. Every timestamp is on the machine's one clock (the embedded server runs here):

| phase          | from → to                                   | what it holds                                  |
|----------------|---------------------------------------------|------------------------------------------------|
| wake           | enqueue commit → worker sends the claim      | NOTIFY delivery, the listener, the loop wakes   |
| claim          | claim sent → the claim statement's now()     | the statement reaching the server, its start    |
| commit         | now() → the worker read the reply            | execution, commit (WAL flush), the reply        |
| dispatch       | reply read → the job's task created          | parsing rows, the context, metrics              |
| handler entry  | task created → the handler's first line     | the event loop scheduling the task, the executor |

Prints p50/p99 of each phase and of the whole pickup (commit → handler entry), with the load average.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import psycopg

from bench import machine
from bench.phases.common import Target, commit_times, reset, start_workers, wait_drained
from bench.server import BenchServer
from bench.stats import percentile
from bench.systems.reportgen import WORKSPACE, ReportGenerator

OUT = Path(__file__).resolve().parent / ".work" / "pickup-trace"
INSERT = ("INSERT INTO jobs (workspace_id, type, status, payload) "
          f"VALUES ('{WORKSPACE}', 'PING', 'QUEUED', '{{\"trace\": true}}') RETURNING id::text, txid_current()")
PHASES = (("wake", "commit", "claim_sent"), ("claim", "claim_sent", "claim_now"),
          ("commit", "claim_now", "claim_seen"), ("dispatch", "claim_seen", "dispatched"),
          ("handler entry", "dispatched", "handler_entry"), ("pickup (total)", "commit", "handler_entry"))


def measure(target: Target, jobs: int, spacing: float, concurrency: int, log_dir: Path,
            env: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Phase percentiles (ms) over ``jobs`` traced PINGs inserted ``spacing`` s apart (±25 %)."""
    reset(target)
    group = start_workers(target, 1, concurrency, log_dir, env)
    try:
        ids: list[str] = []
        xids: list[int] = []
        with psycopg.connect(target.url, autocommit=True) as conn:
            for _ in range(jobs):
                row = conn.execute(INSERT).fetchone()  # type: ignore[arg-type]
                assert row is not None
                ids.append(str(row[0]))
                xids.append(int(row[1]))
                time.sleep(spacing * random.uniform(0.75, 1.25))
        wait_drained(target, group, time.monotonic() + 30)
    finally:
        group.stop()
    commits = commit_times(target.url, xids)
    with psycopg.connect(target.url, autocommit=True) as conn:
        rows = dict(conn.execute("SELECT id::text, result -> 'trace' FROM jobs WHERE id = ANY(%s::uuid[])",
                                 [ids]).fetchall())
    samples: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
    for job_id, xid in zip(ids, xids, strict=True):
        trace = rows.get(job_id)
        if not trace:
            raise RuntimeError(f"job {job_id} has no trace in its result")
        points = {**trace, "commit": commits[xid]}
        for name, start, end in PHASES:
            samples[name].append((points[end] - points[start]) * 1000)
    return {name: {"p50": percentile(v, 50), "p99": percentile(v, 99), "mean": sum(v) / len(v)}
            for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=0.025)
    parser.add_argument("--concurrency", type=int, default=ReportGenerator.default_concurrency)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    server = BenchServer(OUT / "pg")
    server.start()
    try:
        url = server.create_database("bench_trace")
        system = ReportGenerator()
        system.setup(url)
        target = Target(system, url)
        for rep in range(args.repeats):
            load = machine.loadavg()
            result = measure(target, args.jobs, args.spacing, args.concurrency, OUT / "logs" / str(rep))
            print(f"repeat {rep}: {args.jobs} traced PINGs, concurrency {args.concurrency}, load {load}")
            print(f"  {'phase':<16} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
            for name, cell in result.items():
                print(f"  {name:<16} {cell['p50']:8.3f} {cell['p99']:8.3f} {cell['mean']:8.3f}")
            (OUT / f"trace-{rep}.json").write_text(json.dumps({"load": load, "phases": result}, indent=2))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
