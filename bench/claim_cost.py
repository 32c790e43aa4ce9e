"""What one claim at an idle queue and one completion cost, with the SQL of ``--before`` and of this tree.

The pickup path's own statement: one due PING is inserted, claimed by ``job_claim`` (timed: the
statement and its commit, as the worker's claim loop runs it, psycopg preparing it after its fifth run)
and deleted, ``--rounds`` times, in a table of 20,000 finished jobs (VACUUM ANALYZEd). Then the
completer's: ``--batch`` jobs in progress, recorded by ``job_complete`` (timed likewise) and deleted.
(Refs before 2026-12-07 ran both as ``job_complete_and_claim``, with an empty part.) Each SQL
version runs in its own database of one scratch embedded PostgreSQL (fsync on), under two session
settings: PostgreSQL's own choice of plan (``auto``: what every claim got before 2026-12-06) and the
claim connection's settings since (``plan_cache_mode = force_generic_plan``, ``jit = off``). Reported:
p50 and p90 of the claim in ms, and how many of its runs were planned afresh (custom plans).

    .venv/bin/python -m bench.claim_cost [--before a4bce98] [--rounds 1500] [--batch 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bench.queries_at_scale import RESULTS, WS, load_sql, named_query
from common.embedded_pg import EmbeddedPostgres

MODES = {"auto": [], "generic, jit off": ["SET plan_cache_mode = force_generic_plan", "SET jit = off"]}
CLAIM = {"worker_id": "bench", "types": ["DELIVER", "EXPORT", "START_RUN"], "light_types": ["PING"],
         "limit": 4, "light_limit": 64, "lease_seconds": 30, "done": "[]"}


def prepare(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(schema)
        conn.execute("INSERT INTO workspaces (id, name) VALUES (%s, 'bench') ON CONFLICT DO NOTHING", (WS,))
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, completed_at) "
                     "SELECT %s, 'PING', 'COMPLETED', '{}', now() FROM generate_series(1, 20000)", (WS,))
        conn.execute("VACUUM ANALYZE jobs")


def claim_times(url: str, claim_sql: str, settings: list[str], rounds: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        for statement in settings:
            conn.execute(statement)
        times = []
        for _ in range(rounds):
            conn.execute("INSERT INTO jobs (workspace_id, type, payload) VALUES (%s, 'PING', '{}')", (WS,))
            started = time.perf_counter()
            rows = conn.execute(claim_sql, CLAIM).fetchall()
            times.append((time.perf_counter() - started) * 1000)
            if len(rows) != 1:
                raise RuntimeError(f"the claim returned {len(rows)} rows, not 1")
            conn.execute("DELETE FROM jobs WHERE id = %s", (rows[0]["id"],))
        plans = conn.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                             "WHERE statement LIKE '%%FOR UPDATE SKIP LOCKED%%'").fetchone()
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(len(times) * 0.9)],
            "custom_plans": plans["custom_plans"] if plans else rounds}


def completion_times(url: str, complete_sql: str, settings: list[str], rounds: int, batch: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        for statement in settings:
            conn.execute(statement)
        times = []
        for _ in range(rounds):
            ids = [r["id"] for r in conn.execute(
                "INSERT INTO jobs (workspace_id, type, status, payload, attempts, locked_by, lease_expires_at, "
                "started_at) SELECT %s, 'PING', 'IN_PROGRESS', '{}', 1, %s, now() + interval '1 minute', now() "
                "FROM generate_series(1, %s) RETURNING id::text", (WS, CLAIM["worker_id"], batch))]
            done = json.dumps([{"id": i, "attempts": 1, "result": {"ok": True}} for i in ids])
            started = time.perf_counter()
            rows = conn.execute(complete_sql, {**CLAIM, "done": done, "limit": 0, "light_limit": 0}).fetchall()
            times.append((time.perf_counter() - started) * 1000)
            if len(rows) != batch:
                raise RuntimeError(f"the completion recorded {len(rows)} of {batch} jobs")
            conn.execute("DELETE FROM jobs WHERE id = ANY(%s::uuid[])", (ids,))
        plans = conn.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                             "WHERE statement LIKE '%%jsonb_to_recordset%%'").fetchone()
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(len(times) * 0.9)],
            "custom_plans": plans["custom_plans"] if plans else rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="a4bce98")
    parser.add_argument("--rounds", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16, help="completions per completion statement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="rg-bench-claim-"))
    server = EmbeddedPostgres(data_dir)
    base = server.start()
    versions = {f"before ({args.before})": load_sql(args.before), "after": load_sql(None)}
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        urls = {}
        for i, (label, (schema, _)) in enumerate(versions.items()):
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE claim_{i}")
            urls[label] = base.rsplit("/", 1)[0] + f"/claim_{i}"
            prepare(urls[label], schema)
        for _ in range(args.repeats):  # interleaved, so that a noisy minute hits every variant alike
            for label, (_, queries) in versions.items():
                for mode, settings in MODES.items():
                    for statement, run in (
                            ("claim 1", claim_times(urls[label], named_query(queries, "job_claim"), settings,
                                                    args.rounds)),
                            (f"complete {args.batch}", completion_times(
                                urls[label], named_query(queries, "job_complete"), settings, args.rounds // 3,
                                args.batch))):
                        results.setdefault(f"{statement} | {label} | {mode}", []).append(run)
                        print(f"{statement:>11} | {label:>22} | {mode:<16} p50 {run['p50']:.3f} ms  "
                              f"p90 {run['p90']:.3f} ms  custom plans {run['custom_plans']}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    lines = [f"# One claim at an idle queue ({args.rounds} rounds) and one completion of {args.batch} "
             f"({args.rounds // 3} rounds), 20,000 finished jobs, median of {args.repeats}",
             "", "| statement | SQL | session | p50 ms | p90 ms | runs planned afresh |",
             "|---|---|---|---:|---:|---:|"]
    for key, runs in sorted(results.items()):
        statement, label, mode = key.split(" | ")
        rounds = args.rounds if statement.startswith("claim") else args.rounds // 3
        lines.append(f"| {statement} | {label} | {mode} | {statistics.median(r['p50'] for r in runs):.3f} | "
                     f"{statistics.median(r['p90'] for r in runs):.3f} | "
                     f"{statistics.median(r['custom_plans'] for r in runs):.0f} of {rounds} |")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"claim-cost-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"claim-cost-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
