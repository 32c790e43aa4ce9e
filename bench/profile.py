"""Profile report-generator's worker under the bench's load: ``python -m bench.profile [--jobs N]``.

Starts the bench server, one worker process under py-spy (from bench/.work/venv), drains N jobs at the
default and at the tuned concurrency, and writes py-spy's flat top functions per drain (``--format raw``
collapsed stacks + a summary) to bench/.work/profile/. Also EXPLAIN ANALYZE of the claim and completion
queries with 1,000,000 finished jobs in the table.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from bench import setup_env
from bench.phases import scale
from bench.phases.common import Target, reset, start_workers, wait_drained
from bench.server import BenchServer
from bench.systems.reportgen import WORKSPACE, ReportGenerator

OUT = setup_env.WORK_DIR / "profile"


def profiled_drain(target: Target, jobs: int, concurrency: int, out: Path) -> float:
    """Drain ``jobs`` with one worker while py-spy samples it (attached by pid, so it outlives SIGTERM)."""
    reset(target)
    group = start_workers(target, 1, concurrency, OUT / f"logs-c{concurrency}")
    spy = subprocess.Popen([str(setup_env.VENV_DIR / "bin" / "py-spy"), "record", "--format", "raw",
                            "--rate", "250", "--output", str(out), "--pid", str(group.processes[0].pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # py-spy attached
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute(target.system.enqueue_batch_sql(), {"n": jobs})  # type: ignore[arg-type]
        started = time.monotonic()
        wait_drained(target, group, started + 120)
        elapsed = time.monotonic() - started
    finally:
        group.stop()
        spy.wait(30)
    return jobs / elapsed


def top_functions(collapsed: Path, limit: int = 25) -> list[tuple[str, float, float]]:
    """(function, self %, total %) from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    return [(f, 100 * own[f] / samples, 100 * total[f] / samples) for f, _ in own.most_common(limit)]


def explain(url: str) -> str:
    sqls = {
        "claim": "EXPLAIN (ANALYZE, BUFFERS) WITH next AS (SELECT id FROM jobs WHERE status = 'QUEUED' "
                 "AND run_at <= now() ORDER BY priority DESC, run_at, id LIMIT 32 FOR UPDATE SKIP LOCKED) "
                 "UPDATE jobs j SET status = 'IN_PROGRESS', attempts = j.attempts + 1, locked_by = 'x', "
                 "lease_expires_at = now() + interval '30 s', started_at = now() FROM next WHERE j.id = next.id",
        "metrics: jobs by status": "EXPLAIN (ANALYZE, BUFFERS) SELECT status, type, count(*) FROM jobs "
                                   "GROUP BY status, type",
    }
    out = []
    with psycopg.connect(url) as conn:
        conn.execute(f"INSERT INTO jobs (workspace_id, type, status, payload) "
                     f"SELECT '{WORKSPACE}', 'PING', 'QUEUED', '{{}}' FROM generate_series(1, 1000)")
        for name, sql in sqls.items():
            plan = "\n".join(row[0] for row in conn.execute(sql))  # type: ignore[arg-type]
            out.append(f"-- {name}\n{plan}\n")
        conn.rollback()
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_env.ensure_python_venv()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    server = BenchServer(OUT / "pg")
    server.start()
    try:
        url = server.create_database("bench_profile")
        system = ReportGenerator()
        system.setup(url)
        target = Target(system, url)
        for conc in (system.default_concurrency, system.tuned_concurrency):
            rate = profiled_drain(target, args.jobs, conc, OUT / f"drain-c{conc}.txt")
            print(f"drain c={conc}: {rate:.0f} jobs/s (under py-spy)")
            for name, own, total in top_functions(OUT / f"drain-c{conc}.txt"):
                print(f"  {own:5.1f}% self {total:5.1f}% total  {name}")
        scale.seed_finished(target, args.rows)
        print(explain(url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
