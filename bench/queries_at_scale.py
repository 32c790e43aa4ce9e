"""Each page, API and /metrics query at 10 M finished jobs, with the schema and queries before and after.

On a scratch embedded PostgreSQL (fsync off): one table of ``--rows`` finished jobs over 14 days (300,000
of them finished in the last 5 minutes, i.e. 1,000 jobs/s), 200,000 delayed jobs of priority 10, 1,000
due jobs of priority 0 and 50 running ones, made with generate_series. The indexes come from running the
"before" schema file over it (the version at ``--before``), then the current one (which drops and
creates indexes idempotently, as a migration of an existing database does). Each query runs
``--repeats`` times after one warm-up; the median is reported. Writes run inside a rolled-back transaction.

    .venv/bin/python -m bench.queries_at_scale [--rows 10000000] [--before eca7ab1] [--data-dir DIR]
        [--generic] [--sample-accuracy RUNS]

With ``--data-dir`` the generated cluster is kept there and reused by the next run with the same
``--rows`` (generating 10 M rows takes minutes); each run drops every index and statistics object of
``jobs`` and builds "before" from scratch, so that no index of "after" helps "before". Delete the
directory when done.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from common.jobs import list_query
from common.queue_stats import EXACT_COUNT_CAP, RECENT_SAMPLE_JOBS, SAMPLE_BLOCKS, sample_percent
from common.sql import parse_queries

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WS = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
BEFORE_REF = "eca7ab1"  # main before issue 12's query and index changes

# Every index but the primary key, and every extended statistics object, of jobs: back to a bare table.
RESET = [
    "DO $$ DECLARE i record; BEGIN FOR i IN SELECT indexname FROM pg_indexes WHERE tablename = 'jobs' "
    "AND indexname <> 'jobs_pkey' LOOP EXECUTE format('DROP INDEX %I', i.indexname); END LOOP; END $$",
    "DO $$ DECLARE s record; BEGIN FOR s IN SELECT stxname FROM pg_statistic_ext WHERE stxrelid = 'jobs'::regclass "
    "LOOP EXECUTE format('DROP STATISTICS %I', s.stxname); END LOOP; END $$",
]
GENERATE = [
    "ALTER TABLE jobs DROP CONSTRAINT jobs_pkey CASCADE",  # and job_attempts' foreign key, put back below
    *RESET,
    # History: finished jobs, newest first in i; the last 300,000 within 5 minutes (1,000/s), the rest
    # spread over 14 days.
    f"""INSERT INTO jobs (workspace_id, type, status, payload, result, created_at, run_at, started_at,
                          completed_at, attempts, updated_at)
    SELECT '{WS}',
           (ARRAY['PING','PING','PING','PING','PING','PING','START_RUN','START_RUN','EXPORT','DELIVER'])
               [1 + mod(i, 10)],
           (ARRAY['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED',
                  'COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED',
                  'COMPLETED','COMPLETED','FAILED','CANCELLED'])[1 + mod(i, 20)],
           '{{}}', '{{"pong": true}}', t - interval '5 ms', t - interval '5 ms', t - interval '2 ms', t, 1, t
    FROM (SELECT i, now() - CASE WHEN i <= 300000 THEN make_interval(secs => i / 1000.0)
                                 ELSE make_interval(secs => 300 + (i - 300000) * (14 * 86400.0 / %(rows)s)) END AS t
          FROM generate_series(1, %(rows)s) AS i) AS g""",
    f"""INSERT INTO jobs (workspace_id, type, status, payload, priority, run_at)
    SELECT '{WS}', 'PING', 'QUEUED', '{{}}', 10, now() + interval '1 hour' + make_interval(secs => i / 100.0)
    FROM generate_series(1, 200000) AS i""",
    f"""INSERT INTO jobs (workspace_id, type, status, payload, priority, run_at, created_at)
    SELECT '{WS}', 'PING', 'QUEUED', '{{}}', 0, now() - make_interval(secs => i), now() - make_interval(secs => i)
    FROM generate_series(1, 1000) AS i""",
    f"""INSERT INTO jobs (workspace_id, type, status, payload, started_at, attempts, locked_by, lease_expires_at)
    SELECT '{WS}', 'PING', 'IN_PROGRESS', '{{}}', now(), 1, 'bench-' || i, now() + interval '7 days'
    FROM generate_series(1, 50) AS i""",  # leases that last the run: "rescue" is the steady-state probe
    "ALTER TABLE jobs ADD PRIMARY KEY (id)",
    "ALTER TABLE job_attempts ADD CONSTRAINT job_attempts_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs(id) "
    "ON DELETE CASCADE",
]


def cases(age_seconds: float = 0.0, blocks: float = 0.0) -> dict[str, tuple[str, dict[str, Any]]]:
    """The queries and their parameters; ``age_seconds`` is how long ago the data was generated (its
    "last 5 minutes" are that much older when a kept cluster is reused), ``blocks`` the table's size in
    blocks (the finished-jobs sample reads SAMPLE_BLOCKS of them)."""
    page = {"workspace_id": WS, "status": None, "type": None, "limit": 50, "before_created_at": None,
            "before_id": None}
    cursor = {"before_created_at": datetime.now(UTC) - timedelta(days=3), "before_id": str(uuid.UUID(int=0))}
    out: dict[str, tuple[str, dict[str, Any]]] = {
        "dashboard queue_counts": ("queue_counts", {"workspace_id": WS, "cap": EXACT_COUNT_CAP}),
        "dashboard failed (job_list status=FAILED limit 5)": ("job_list", {**page, "status": "FAILED", "limit": 5}),
        "/jobs (job_list limit 100)": ("job_list", {**page, "limit": 100}),
    }
    for status in ("QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"):
        out[f"/jobs?status={status}"] = ("job_list", {**page, "status": status, "limit": 100})
    out["/jobs?type=DELIVER"] = ("job_list", {**page, "type": "DELIVER", "limit": 100})
    out["/jobs?type=PING"] = ("job_list", {**page, "type": "PING", "limit": 100})
    out["GET /api/jobs first page"] = ("job_list", page)
    out["GET /api/jobs page 3 days back"] = ("job_list", {**page, **cursor})
    out["GET /api/jobs?status=FAILED page 3 days back"] = ("job_list", {**page, **cursor, "status": "FAILED"})
    out["/metrics job_count_active"] = ("job_count_active", {"cap": EXACT_COUNT_CAP})
    out["/metrics job_table_size_estimate"] = ("job_table_size_estimate", {})
    out["/metrics job_count_finished_sampled (0.2 %, before)"] = ("job_count_finished_sampled", {"percent": 0.2})
    out[f"/metrics job_count_finished_sampled ({SAMPLE_BLOCKS} blocks)"] = (
        "job_count_finished_sampled", {"percent": sample_percent(blocks)})
    out["web /metrics job_recent_latency"] = ("job_recent_latency", {"window_seconds": 300 + age_seconds,
                                                                      "limit": RECENT_SAMPLE_JOBS})
    out["web /metrics job_recent_latency, latest 5,000 (before)"] = ("job_recent_latency", {
        "window_seconds": 300 + age_seconds, "limit": 5000})
    out["claim 8 (200k delayed priority-10 jobs)"] = ("job_claim", {
        "done": Jsonb([]),  # what the claim of older refs also takes (named_query)
        "worker_id": "bench", "limit": 8, "lease_seconds": 30, "types": ["PING"], "light_types": [], "light_limit": 0})
    out["worker_wait min(run_at)"] = ("worker_wait", {"worker_id": "bench", "types": ["PING"]})
    out["rescue (none expired)"] = ("job_rescue_expired", {"limit": 100, "delays": [2.0, 4.0]})
    out["rescue 50 expired leases"] = ("job_rescue_expired", {"limit": 100, "delays": [2.0, 4.0]})
    out["prune one batch"] = ("job_prune_finished", {"retention_seconds": 7 * 86400, "limit": 5000})
    return out


def load_sql(ref: str | None) -> tuple[str, dict[str, str]]:
    """(schema + triggers, named queries) at a git ref, or of the working tree."""
    def read(path: str) -> str:
        if ref is None:
            return (REPO / path).read_text()
        return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout
    queries: dict[str, str] = {}
    for name in ("sql/queries/jobs.sql", "sql/queries/reports.sql"):
        queries.update(parse_queries(read(name)))
    return read("sql/schema.sql") + "\n" + read("sql/triggers.sql"), queries


# Queries that had another name at older refs (``--before``): until 2026-12-07 one statement,
# job_complete_and_claim, claimed (``done`` empty) and completed (both limits 0).
FORMER_NAMES = {"job_claim": "job_complete_and_claim", "job_complete": "job_complete_and_claim"}


def named_query(queries: dict[str, str], name: str) -> str:
    """The query called ``name`` in ``queries`` (one ref's SQL), or what it was called there."""
    return queries[name] if name in queries else queries[FORMER_NAMES[name]]


# Run in the measured query's transaction before the clock starts (rolled back with it).
SETUP = {"rescue 50 expired leases": "UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                                     "WHERE status = 'IN_PROGRESS'"}


def measure(conn: psycopg.Connection[Any], queries: dict[str, str], repeats: int,
            age_seconds: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, (name, params) in cases(age_seconds, table_blocks(conn)).items():
        variant = list_query(params["status"], params["type"]) if name == "job_list" else name
        sql = queries.get(variant) or named_query(queries, name)  # "before" refs: one job_list for all filters
        times = []
        for _ in range(repeats + 1):
            conn.execute("BEGIN")
            if label in SETUP:
                conn.execute(SETUP[label])
            started = time.perf_counter()
            cur = conn.execute(sql, params)
            if cur.description is not None:
                cur.fetchall()
            times.append((time.perf_counter() - started) * 1000)
            conn.execute("ROLLBACK")
        out[label] = round(statistics.median(times[1:]), 2)
        print(f"  {out[label]:9.2f} ms  {label}", flush=True)
    return out


def table_blocks(conn: psycopg.Connection[Any]) -> float:
    row = conn.execute("SELECT pg_relation_size('jobs') / current_setting('block_size')::int AS n").fetchone()
    assert row is not None
    return float(row["n"])


def sample_accuracy(conn: psycopg.Connection[Any], queries: dict[str, str], runs: int) -> list[str]:
    """The finished-jobs sample of /metrics beside the exact counts: each (status, type)'s exact count,
    and the median and largest relative error of ``runs`` samples (a markdown table)."""
    blocks = table_blocks(conn)
    params = {"percent": sample_percent(blocks)}
    exact = {(r["status"], r["type"]): int(r["n"]) for r in conn.execute(queries["job_count_finished"])}
    errors: dict[tuple[str, str], list[float]] = {key: [] for key in exact}
    for _ in range(runs):
        sampled = {(r["status"], r["type"]): float(r["n"]) for r in conn.execute(queries["job_count_finished_sampled"],
                                                                                  params)}
        for key, n in exact.items():
            errors[key].append(abs(sampled.get(key, 0.0) - n) / n)
    lines = [f"Finished-jobs sample ({SAMPLE_BLOCKS} of {blocks:,.0f} blocks, {runs} runs) against the exact counts:",
             "", "| status, type | exact | median error | largest error |", "|---|---:|---:|---:|"]
    for key in sorted(exact, key=lambda k: -exact[k]):
        lines.append(f"| {key[0]}, {key[1]} | {exact[key]:,} | {statistics.median(errors[key]):.1%} | "
                     f"{max(errors[key]):.1%} |")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--before", default=BEFORE_REF)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="keep the generated cluster here and reuse it")
    parser.add_argument("--generic", action="store_true",
                        help="plan_cache_mode = force_generic_plan: the plan a prepared statement switches to")
    parser.add_argument("--sample-accuracy", type=int, default=0, metavar="RUNS",
                        help="after the timings, compare RUNS finished-jobs samples with an exact count")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="rg-bench-scale-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / f"generated-{args.rows}"
    server = EmbeddedPostgres(data_dir, settings={**FAST_UNSAFE_SETTINGS, "shared_buffers": "1GB",
                                                  "maintenance_work_mem": "512MB", "max_wal_size": "16GB",
                                                  "work_mem": "16MB", "autovacuum": "off"})
    url = server.start()
    try:
        before_schema, before_queries = load_sql(args.before)
        after_schema, after_queries = load_sql(None)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row, prepare_threshold=None) as conn:
            started = time.perf_counter()
            if marker.exists():
                for statement in RESET:
                    conn.execute(statement)
                print(f"reusing {args.rows:,} finished jobs in {data_dir}", flush=True)
            else:
                generated_at = time.time()
                conn.execute(before_schema)
                conn.execute("INSERT INTO workspaces (id, name) VALUES (%s, 'bench') ON CONFLICT DO NOTHING", (WS,))
                for statement in GENERATE:
                    conn.execute(statement, {"rows": args.rows} if "%(rows)s" in statement else None)
                marker.write_text(str(generated_at))  # the rows' now(): "the last 5 minutes" age from here
                print(f"generated {args.rows:,} finished jobs in {time.perf_counter() - started:.0f} s", flush=True)
            started = time.perf_counter()
            conn.execute(before_schema)  # the indexes of "before"
            conn.execute("VACUUM ANALYZE jobs")
            print(f"built the indexes of before in {time.perf_counter() - started:.0f} s", flush=True)
            if args.generic:
                conn.execute("SET plan_cache_mode = force_generic_plan")
            print(f"before ({args.before}):", flush=True)
            age = time.time() - float(marker.read_text() or time.time())
            before = measure(conn, before_queries, args.repeats, age)
            started = time.perf_counter()
            conn.execute(after_schema)  # what a migration does to an existing database
            conn.execute("VACUUM ANALYZE jobs")
            print(f"migrated the indexes in {time.perf_counter() - started:.0f} s; after:", flush=True)
            after = measure(conn, after_queries, args.repeats, time.time() - float(marker.read_text()))
            accuracy = sample_accuracy(conn, after_queries, args.sample_accuracy) if args.sample_accuracy else []
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('jobs')) AS s").fetchone()["s"]
    finally:
        server.stop()
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {"rows": args.rows, "before_ref": args.before, "table_size": size, "generic_plans": args.generic,
              "before_ms": before,
              "after_ms": after}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"queries-at-scale-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    plans = ", generic plans" if args.generic else ""
    lines = [f"# Queries at {args.rows:,} finished jobs ({size}), median of {args.repeats}{plans}", "",
             f"| query | before ({args.before}) ms | after ms |", "|---|---:|---:|"]
    lines += [f"| {label} | {before[label]:.2f} | {after[label]:.2f} |" for label in after]
    lines += ["", *accuracy] if accuracy else []
    (RESULTS / f"queries-at-scale-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
