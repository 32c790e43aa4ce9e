"""Pickup latency split into phases: ``python -m bench.pickup_trace [--jobs N] [--concurrency C]``.

One idle, listening worker (the bench server, fsync on); single spaced inserts of PING {"trace": true},
each committed alone. Every timestamp is on the machine's one clock (the embedded server runs here):

| phase          | from → to                                   | what it holds                                  |
|----------------|---------------------------------------------|------------------------------------------------|
| wake           | enqueue commit → worker sends the claim      | NOTIFY delivery, the listener, the loop wakes   |
|  · flush       | enqueue commit → the enqueuer's reply read   | the enqueue's WAL flush (after the commit time) |
|  · heard       | enqueue commit → the NOTIFY callback ran      | flush, NOTIFY signal, the listener's socket     |
|  · resume      | callback → the loop resumed from its wait     | the event loop switching to the claim loop      |
|  · send        | loop resumed → the claim sent                 | the loop's bookkeeping before the claim         |
| claim          | claim sent → the claim statement's now()     | the statement reaching the server, its start    |
| commit         | now() → the worker read the reply            | execution, commit (WAL flush), the reply        |
| dispatch       | reply read → the job's task created          | parsing rows, the context, metrics              |
| handler entry  | task created → the handler's first line     | the event loop scheduling the task, the executor |

``pg_xact_commit_timestamp`` is taken before the commit's WAL flush, and a NOTIFY is delivered only
after it: so wake holds the enqueue's own flush (the "flush" sub-phase), which every system pays. The
sub-phases are over the jobs woken by their own NOTIFY (heard after their commit); the others were found
by one of the loop's own looks (the second look after going idle) and are counted apart.

With ``--ab TREE`` (another checkout of this repository, e.g. a ``git worktree`` of the commit before a
change), repeats alternate between this tree's worker (A) and TREE's (B) on the same server and database,
and the medians of each arm are printed side by side with the ratio A/B.

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
from bench.systems.base import WorkerSpec
from bench.systems.reportgen import WORKSPACE, ReportGenerator

OUT = Path(__file__).resolve().parent / ".work" / "pickup-trace"
INSERT = ("INSERT INTO jobs (workspace_id, type, status, payload) "
          f"VALUES ('{WORKSPACE}', 'PING', 'QUEUED', '{{\"trace\": true}}') RETURNING id::text, txid_current()")
PHASES = (("wake", "commit", "claim_sent"), ("claim", "claim_sent", "claim_now"),
          ("commit", "claim_now", "claim_seen"), ("dispatch", "claim_seen", "dispatched"),
          ("handler entry", "dispatched", "handler_entry"), ("pickup (total)", "commit", "handler_entry"))
BY_LOOK = "found by a look (count)"
WAKE_STEPS = (("wake · flush", "commit", "acked"), ("wake · heard", "commit", "notify_heard"),
              ("wake · resume", "notify_heard", "loop_resumed"), ("wake · send", "loop_resumed", "claim_sent"))


def measure(target: Target, jobs: int, spacing: float, concurrency: int, log_dir: Path,
            env: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Phase percentiles (ms) over ``jobs`` traced PINGs inserted ``spacing`` s apart (±25 %)."""
    reset(target)
    group = start_workers(target, 1, concurrency, log_dir, env)
    try:
        ids: list[str] = []
        xids: list[int] = []
        acked: list[float] = []
        with psycopg.connect(target.url, autocommit=True) as conn:
            for _ in range(jobs):
                row = conn.execute(INSERT).fetchone()  # type: ignore[arg-type]
                acked.append(time.time())
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
    samples: dict[str, list[float]] = {name: [] for name, _, _ in (*PHASES, *WAKE_STEPS)}
    by_look = 0
    for job_id, xid, ack in zip(ids, xids, acked, strict=True):
        trace = rows.get(job_id)
        if not trace:
            raise RuntimeError(f"job {job_id} has no trace in its result")
        points = {**trace, "commit": commits[xid], "acked": ack}
        for name, start, end in PHASES:
            samples[name].append((points[end] - points[start]) * 1000)
        woken = points.get("notify_heard", 0.0) >= points["commit"] and \
            points["notify_heard"] <= points.get("loop_resumed", 0.0) <= points["claim_sent"]
        if not woken:
            by_look += 1
            continue
        for name, start, end in WAKE_STEPS:
            samples[name].append((points[end] - points[start]) * 1000)
    result = {name: {"p50": percentile(v, 50), "p99": percentile(v, 99), "mean": sum(v) / len(v)}
              for name, v in samples.items() if v}
    result[BY_LOOK] = {"p50": float(by_look), "p99": float(by_look), "mean": float(by_look)}
    return result


class OtherTree(ReportGenerator):
    """The same system, its worker started from another checkout (the B arm of ``--ab``)."""

    def __init__(self, tree: Path) -> None:
        super().__init__()
        self.tree = tree

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        spec = super().worker(url, concurrency, port)
        spec.env["PYTHONPATH"] = str(self.tree)
        spec.cwd = self.tree  # ``python -m worker`` imports from its working directory first
        return spec


def print_result(title: str, result: dict[str, dict[str, float]], jobs: int) -> None:
    print(title)
    print(f"  {'phase':<16} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, cell in result.items():
        if name == BY_LOOK:
            print(f"  {name}: {cell['p50']:.0f} of {jobs} (the wake · rows are over the rest)")
            continue
        print(f"  {name:<16} {cell['p50']:8.3f} {cell['p99']:8.3f} {cell['mean']:8.3f}")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=0.025)
    parser.add_argument("--concurrency", type=int, default=ReportGenerator.default_concurrency)
    parser.add_argument("--repeats", type=int, default=1, help="per arm, with --ab")
    parser.add_argument("--ab", type=Path, help="another checkout: alternate repeats between it and this tree")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    server = BenchServer(OUT / "pg")
    server.start()
    try:
        url = server.create_database("bench_trace")
        system = ReportGenerator()
        system.setup(url)
        arms = {"A": Target(system, url)}
        if args.ab is not None:
            arms["B"] = Target(OtherTree(args.ab.resolve()), url)
        runs: dict[str, list[dict[str, dict[str, float]]]] = {arm: [] for arm in arms}
        for rep in range(args.repeats):
            for arm, target in (arms.items() if rep % 2 == 0 else reversed(arms.items())):
                load = machine.loadavg()
                result = measure(target, args.jobs, args.spacing, args.concurrency, OUT / "logs" / f"{arm}{rep}")
                runs[arm].append(result)
                where = f" ({arm}: {target.system.tree})" if isinstance(target.system, OtherTree) else \
                    (" (A: this tree)" if len(arms) > 1 else "")
                print_result(f"repeat {rep}{where}: {args.jobs} traced PINGs, concurrency {args.concurrency}, "
                             f"load {load}", result, args.jobs)
                (OUT / f"trace-{arm}{rep}.json").write_text(json.dumps({"load": load, "phases": result}, indent=2))
        if len(arms) > 1:
            print(f"medians of {args.repeats} repeats per arm (A: this tree, B: {args.ab}), load {machine.loadavg()}")
            print(f"  {'phase':<22} {'A p50':>7} {'B p50':>7} {'A/B':>5}   {'A p99':>7} {'B p99':>7} {'A/B':>5}")
            for name in runs["A"][0]:
                if name == BY_LOOK or not all(name in r for arm in arms for r in runs[arm]):
                    continue
                cells = {arm: {q: median([r[name][q] for r in runs[arm]]) for q in ("p50", "p99")} for arm in arms}
                a, b = cells["A"], cells["B"]
                print(f"  {name:<22} {a['p50']:7.3f} {b['p50']:7.3f} {a['p50'] / b['p50']:5.2f}   "
                      f"{a['p99']:7.3f} {b['p99']:7.3f} {a['p99'] / b['p99']:5.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
