"""Worker processes per host, direct and through PgBouncer: ``python -m bench.scale_out``.

One worker instance (``python -m worker``) with ``WORKER_PROCESSES`` = 1, 2, 4, 8 against the bench's
durable PostgreSQL (fsync on), each at the worker's default settings, connected either directly or
through a real PgBouncer in transaction mode (tests/support/pgbouncer.py; Debian's pgbouncer,
``default_pool_size = 10``), where the listener is deaf and the worker runs poll-only (1 s). For each:

- pickup: ``--pickup-jobs`` traced PINGs inserted one at a time ``--spacing`` s apart (bench.pickup_trace),
  enqueue commit → handler entry, p50 and p99;
- drain: ``--jobs`` PINGs committed in one batch, jobs/s until none is left (bench.phases.throughput),
  exactly-once checked.

The enqueuer always connects directly. Results: bench/results/scale-out-<stamp>.json and .md.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, pickup_trace
from bench.drain import Profiled
from bench.phases import throughput
from bench.phases.common import Target
from bench.server import BenchServer
from tests.support.pgbouncer import PgBouncer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
OUT = REPO / "bench" / ".work" / "scale_out"


def run_one(url: str, worker_url: str, procs: int, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    env = {"WORKER_PROCESSES": str(procs), "DATABASE_URL": worker_url}
    target = Target(Profiled(None, env), url)
    load = machine.loadavg()
    trace = pickup_trace.measure(target, args.pickup_jobs, args.spacing, 4, OUT / "logs" / f"{tag}-pickup", env)
    pickup = trace["pickup (total)"]
    drained = throughput.drain(target, args.jobs, 1, 4, OUT / "logs" / f"{tag}-drain", args.limit)
    row = {"processes": procs, "pickup_p50_ms": round(pickup["p50"], 2), "pickup_p99_ms": round(pickup["p99"], 2),
           "drain_jobs_per_s": round(drained["jobs_per_s"]), "drain_complete": drained["complete"],
           "load_start": load}
    print(f"{tag}: pickup p50 {row['pickup_p50_ms']} ms p99 {row['pickup_p99_ms']} ms, "
          f"drain {row['drain_jobs_per_s']} jobs/s, load {load}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--pickup-jobs", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.25, help="> the 1 s poll / processes: idle pickups")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds a drain may take")
    parser.add_argument("--paths", nargs="+", default=["direct", "pgbouncer"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    server = BenchServer(OUT / "pg")
    admin = server.start()
    bouncer = PgBouncer(admin).start() if "pgbouncer" in args.paths else None
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        url = server.create_database("bench_scale_out")
        Profiled(None, {}).setup(url)
        for path in args.paths:
            worker_url = bouncer.url_for(url) if path == "pgbouncer" and bouncer else url
            results[path] = [run_one(url, worker_url, procs, args, f"{path}-{procs}") for procs in args.processes]
    finally:
        if bouncer is not None:
            bouncer.stop()
        server.stop()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"scale-out-{stamp}.json").write_text(json.dumps(
        {"args": vars(args), "results": results, "machine": machine.facts()}, indent=2) + "\n")
    lines = [f"# Scale-out: WORKER_PROCESSES, direct and through PgBouncer (transaction mode, poll-only); "
             f"drain of {args.jobs:,} PINGs, pickup of {args.pickup_jobs} spaced PINGs", "",
             "| processes | " + " | ".join(f"{p} pickup p50 / p99 ms | {p} drain jobs/s" for p in results) + " |",
             "|---:|" + "---:|---:|" * len(results)]
    for i, procs in enumerate(args.processes):
        cells = []
        for path in results:
            r = results[path][i]
            cells += [f"{r['pickup_p50_ms']} / {r['pickup_p99_ms']}",
                      f"{r['drain_jobs_per_s']:,}{'' if r['drain_complete'] else ' (cut)'}"]
        lines.append(f"| {procs} | " + " | ".join(cells) + " |")
    (RESULTS / f"scale-out-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
