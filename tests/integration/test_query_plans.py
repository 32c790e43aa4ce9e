"""Every page, API and /metrics query on the jobs table reads an index, at a size where the planner cares.

A module-wide database holds 200,000 finished jobs (the history: 80 % COMPLETED, 95 % PING), 20,000
delayed jobs of a higher priority than the due ones (the workspace's newest jobs), and a few due and
running jobs; ANALYZE gives the planner the statistics a live table has. Each named query is EXPLAINed
with the parameters the code passes: no sequential scan of ``jobs``, and the index we built for it.
(Timings at 10 M rows: bench/queries_at_scale.py.)
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from common.jobs import list_query
from common.queue_stats import SAMPLE_BLOCKS, sample_percent
from common.sql import query
from tests.support.databases import WORKSPACE, connect, database_url_for

HISTORY = 200_000
DELAYED = 20_000

POPULATE = """
INSERT INTO jobs (workspace_id, type, status, payload, result, created_at, started_at, completed_at, attempts,
                  run_at)
SELECT %(ws)s, CASE WHEN i / 10 %% 20 = 0 THEN 'EXPORT' ELSE 'PING' END,
       (ARRAY['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED',
              'FAILED','CANCELLED'])[1 + i %% 10], '{}', '{"pong": true}',
       now() - make_interval(secs => i * 2), now() - make_interval(secs => i * 2 - 0.01),
       now() - make_interval(secs => i * 2 - 0.02), 1, now() - make_interval(secs => i * 2)
FROM generate_series(1, %(history)s) AS i;
INSERT INTO jobs (workspace_id, type, status, payload, priority, run_at)
SELECT %(ws)s, 'PING', 'QUEUED', '{}', 10, now() + interval '1 hour' + make_interval(secs => i)
FROM generate_series(1, %(delayed)s) AS i;
INSERT INTO jobs (workspace_id, type, status, payload, priority, run_at)
VALUES (%(ws)s, 'PING', 'QUEUED', '{"n": "p5-old"}', 5, now() - interval '1 minute'),
       (%(ws)s, 'PING', 'QUEUED', '{"n": "p10-due"}', 10, now() - interval '1 second'),
       (%(ws)s, 'PING', 'QUEUED', '{"n": "p0"}', 0, now() - interval '1 hour'),
       (%(ws)s, 'PING', 'QUEUED', '{"n": "p5-new"}', 5, now() - interval '1 second');
INSERT INTO jobs (workspace_id, type, status, payload, started_at, attempts, locked_by, lease_expires_at)
SELECT %(ws)s, 'PING', 'IN_PROGRESS', '{}', now(), 1, 'w-' || i, now() + interval '30 seconds'
FROM generate_series(1, 20) AS i;
"""


@pytest.fixture(scope="module")
def big_url(server_url: str, template_db: str, as_reached: Callable[[str], str]) -> Iterator[str]:
    """The module's database, direct or through PgBouncer (``make test-pgbouncer``)."""
    name = f"rg_plans_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = database_url_for(server_url, name)
    with connect(url) as conn:
        for statement in POPULATE.split(";")[:-1]:
            conn.execute(statement, {"ws": WORKSPACE, "history": HISTORY, "delayed": DELAYED})
        conn.execute("VACUUM ANALYZE jobs")
    yield as_reached(url)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(url: str, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connect(url) as conn:
        row = conn.execute("EXPLAIN (FORMAT JSON) " + query(name), params).fetchone()
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], list) else json.loads(row["QUERY PLAN"])
    return list(_nodes(plan[0]["Plan"]))


LIST = {"workspace_id": WORKSPACE, "status": None, "type": None, "limit": 50, "before_created_at": None,
        "before_id": None}
CURSOR = {"before_created_at": datetime.now(UTC) - timedelta(days=1), "before_id": str(uuid.UUID(int=0))}
CLAIM = {"worker_id": "w", "limit": 8, "lease_seconds": 30, "types": ["PING"],
         "light_types": [], "light_limit": 0}
# The worker's claim when PING has its own light slots: the slot branch empty, the light branch claiming.
LIGHT_CLAIM = {**CLAIM, "types": ["START_RUN", "EXPORT"], "limit": 4, "light_types": ["PING"], "light_limit": 32}
# The completer's batch: ids that are not there read nothing but the primary key's probes.
COMPLETE = {"worker_id": "w", "done": Jsonb([{"id": str(uuid.uuid4()), "attempts": 1, "result": {}}
                                             for _ in range(16)])}

# The statuses whose rows are few: the planner may read them from the partial indexes of the live queue.
LIVE = {"QUEUED": "jobs_queued_idx", "IN_PROGRESS": "jobs_in_progress_idx"}

# (query, parameters, the indexes it may use: at least one of them)
CASES: dict[str, tuple[str, dict[str, Any], set[str]]] = {
    "dashboard queue_counts": ("queue_counts", {"workspace_id": WORKSPACE, "cap": 10_000},
                               {"jobs_workspace_status_idx", *LIVE.values()}),
    "/jobs": ("job_list", LIST, {"jobs_workspace_list_idx"}),
    "/jobs next page": ("job_list", {**LIST, **CURSOR}, {"jobs_workspace_list_idx"}),
    # Even COMPLETED, most of the history: the list index walks past whatever else is newest (below).
    **{f"/jobs?status={s}": ("job_list", {**LIST, "status": s}, {"jobs_workspace_status_idx", LIVE.get(s, "")} - {""})
       for s in ("QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED")},
    "/jobs?status=FAILED next page": ("job_list", {**LIST, **CURSOR, "status": "FAILED"},
                                      {"jobs_workspace_status_idx"}),
    "/jobs?type=EXPORT": ("job_list", {**LIST, "type": "EXPORT"}, {"jobs_workspace_type_idx"}),
    "/jobs?type=PING": ("job_list", {**LIST, "type": "PING"}, {"jobs_workspace_type_idx"}),
    "/jobs?status=COMPLETED&type=PING": ("job_list", {**LIST, "status": "COMPLETED", "type": "PING"},
                                         {"jobs_workspace_status_idx", "jobs_workspace_type_idx"}),
    "/metrics job_count_active": ("job_count_active", {"cap": 10_000}, {"jobs_queued_idx"}),
    "/metrics job_recent_latency": ("job_recent_latency", {"window_seconds": 300, "limit": 2000},
                                    {"jobs_finished_idx"}),
    "claim": ("job_claim", CLAIM, {"jobs_queued_idx"}),
    "claim with light slots": ("job_claim", LIGHT_CLAIM, {"jobs_queued_idx"}),
    "completion": ("job_complete", COMPLETE, {"jobs_pkey"}),
    "worker_wait next due": ("worker_wait", {"worker_id": "w", "types": ["PING"]}, {"jobs_queued_idx"}),
    "rescue": ("job_rescue_expired", {"limit": 100, "delays": [2.0, 4.0]}, {"jobs_in_progress_idx"}),
    "prune": ("job_prune_finished", {"retention_seconds": 86400, "limit": 5000}, {"jobs_finished_idx"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_query_reads_an_index_not_the_table(big_url: str, case: str) -> None:
    name, params, indexes = CASES[case]
    if name == "job_list":  # the variant the code runs for these filters
        name = list_query(params["status"], params["type"])
    nodes = _plan(big_url, name, params)
    seq = [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "jobs"]
    assert not seq, f"{case}: sequential scan of jobs: {seq}"
    used = {n.get("Index Name") for n in nodes}
    assert indexes & used, f"{case}: expected one of {indexes}, plan uses {used - {None}}"


def test_the_metrics_sample_reads_a_fixed_number_of_blocks_and_estimates_the_counts(big_url: str) -> None:
    """/metrics' finished counts: about SAMPLE_BLOCKS blocks of the table, whatever its size, and counts
    near the exact ones. Here 300 of some 5,000 blocks: the number of blocks drawn varies by about 6 %
    (binomial), and so does each count; 25 % is four standard deviations."""
    with connect(big_url) as conn:
        size = conn.execute(query("job_table_size_estimate")).fetchone()
        params = {"percent": sample_percent(size["blocks"])}
        row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query("job_count_finished_sampled"),
                           params).fetchone()
        sampled = {(r["status"], r["type"]): r["n"] for r in conn.execute(query("job_count_finished_sampled"), params)}
        exact = {(r["status"], r["type"]): r["n"] for r in conn.execute(query("job_count_finished"))}
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], list) else json.loads(row["QUERY PLAN"])
    scans = [n for n in _nodes(plan[0]["Plan"]) if n["Node Type"] == "Sample Scan"]
    assert size["blocks"] > 10 * SAMPLE_BLOCKS, f"the table must be larger than the sample: {size}"
    assert len(scans) == 1
    blocks = scans[0]["Shared Hit Blocks"] + scans[0]["Shared Read Blocks"]
    assert SAMPLE_BLOCKS * 0.7 < blocks < SAMPLE_BLOCKS * 1.3, f"the sample read {blocks} blocks"
    completed = exact[("COMPLETED", "PING")]
    assert abs(sampled[("COMPLETED", "PING")] - completed) < 0.25 * completed, (sampled, exact)


def test_the_claim_takes_due_jobs_by_priority_past_delayed_higher_ones(big_url: str) -> None:
    with connect(big_url) as conn:
        conn.execute("BEGIN")
        rows = conn.execute(query("job_claim"), {**CLAIM, "limit": 3}).fetchall()
        wait = conn.execute(query("worker_wait"), {"worker_id": "w", "types": ["PING"]}).fetchone()
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        light = conn.execute(query("job_claim"), {**LIGHT_CLAIM, "light_limit": 3}).fetchall()
        conn.execute("ROLLBACK")
    assert [r["payload"]["n"] for r in rows] == ["p10-due", "p5-old", "p5-new"]
    assert [r["payload"]["n"] for r in light] == ["p10-due", "p5-old", "p5-new"], "the same order in light slots"
    assert wait["seconds"] < 0, "due jobs of priority 5 and 0 are waiting: the next due time is in the past"


def test_worker_wait_answers_the_earliest_run_at_across_priorities(big_url: str) -> None:
    with connect(big_url) as conn:
        conn.execute("BEGIN")
        conn.execute("DELETE FROM jobs WHERE status = 'QUEUED' AND run_at <= now()")
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, priority, run_at) "
                     "VALUES (%s, 'PING', '{}', -3, now() + interval '20 seconds')", (WORKSPACE,))
        wait = conn.execute(query("worker_wait"), {"worker_id": "w", "types": ["PING"]}).fetchone()
        conn.execute("ROLLBACK")
    assert 15 < wait["seconds"] <= 20, "a low-priority job due in 20 s comes before the delayed ones (1 h)"


def _analyze(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query(name), params).fetchone()
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], list) else json.loads(row["QUERY PLAN"])
    return list(_nodes(plan[0]["Plan"]))


def _most_rows_read_from_jobs(nodes: list[dict[str, Any]]) -> float:
    """The most rows any one scan of the jobs table returned (per loop: a probe repeated per type is
    one loop each)."""
    return max(n["Actual Rows"] for n in nodes if n.get("Relation Name") == "jobs")


def test_the_dashboard_counts_stop_at_the_cap(big_url: str) -> None:
    """20,004 queued jobs: the count reads cap + 1 of them and says "more than the cap"."""
    with connect(big_url) as conn:
        counts = {r["status"]: r["n"] for r in conn.execute(query("queue_counts"),
                                                           {"workspace_id": WORKSPACE, "cap": 1000})}
        nodes = _analyze(conn, "queue_counts", {"workspace_id": WORKSPACE, "cap": 1000})
        exact = {r["status"]: r["n"] for r in conn.execute(query("queue_counts"),
                                                          {"workspace_id": WORKSPACE, "cap": 100_000})}
    assert counts == {"QUEUED": 1001, "IN_PROGRESS": 20}
    assert exact == {"QUEUED": DELAYED + 4, "IN_PROGRESS": 20}, "below the cap the counts are exact"
    assert _most_rows_read_from_jobs(nodes) <= 1001, "the count must stop at the cap, not read the backlog"


def test_metrics_counts_are_exact_below_the_cap_and_estimated_above(big_url: str) -> None:
    with connect(big_url) as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, run_at) SELECT %s, 'EXPORT', '{}', "
                     "now() - interval '10 minutes' FROM generate_series(1, 3)", (WORKSPACE,))
        capped = {(r["status"], r["type"]): r for r in conn.execute(query("job_count_active"), {"cap": 1000})}
        nodes = _analyze(conn, "job_count_active", {"cap": 1000})
        exact = {(r["status"], r["type"]): r for r in conn.execute(query("job_count_active"), {"cap": 100_000})}
        conn.execute("ROLLBACK")
    ping = capped[("QUEUED", "PING")]
    assert ping["estimated"] and DELAYED / 2 <= ping["n"] <= DELAYED * 2, f"planner estimate of {DELAYED + 4}: {ping}"
    assert 3590 <= ping["oldest_age_seconds"] <= 3700, "the oldest due PING (priority 0) is an hour old"
    export = capped[("QUEUED", "EXPORT")]
    assert (export["n"], export["estimated"]) == (3, False)
    assert 590 <= export["oldest_age_seconds"] <= 700, "each type has its own oldest job"
    assert capped[("IN_PROGRESS", "PING")]["n"] == 20
    assert (exact[("QUEUED", "PING")]["n"], exact[("QUEUED", "PING")]["estimated"]) == (DELAYED + 4, False)
    assert _most_rows_read_from_jobs(nodes) <= 1001, "no scan of jobs may read past the cap"


def _generic_plan(url: str, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan a prepared statement switches to after its fifth run (plan_cache_mode=force_generic_plan)."""
    with connect(url) as conn:
        return _explain_generic(conn, name, params)


def _explain_generic(conn: psycopg.Connection[Any], name: str, params: dict[str, Any], *,
                     analyze: bool = False) -> list[dict[str, Any]]:
    """The named query PREPAREd with $n for its parameters (types inferred by the server), then EXPLAIN
    EXECUTE with the values inlined, under plan_cache_mode=force_generic_plan."""
    text, values = query(name), []
    for key in dict.fromkeys(re.findall(r"%\((\w+)\)s", text)):
        values.append(params[key])
        text = text.replace(f"%({key})s", f"${len(values)}")
    text = text.replace("%%", "%")
    args = sql.SQL(", ").join(sql.Literal(v) for v in values)
    options = sql.SQL("ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON")
    with conn.transaction():  # one server session through a transaction pooler too
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE generic_case AS {text}")
        row = conn.execute(sql.SQL("EXPLAIN ({}) EXECUTE generic_case({})").format(options, args)).fetchone()
        conn.execute("DEALLOCATE generic_case")
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], list) else json.loads(row["QUERY PLAN"])
    return list(_nodes(plan[0]["Plan"]))


@pytest.mark.parametrize("case", list(CASES))
def test_each_query_reads_an_index_in_its_generic_plan_too(big_url: str, case: str) -> None:
    """psycopg prepares a statement on its fifth run (direct connections), and PostgreSQL may then keep a
    generic plan, planned without the parameters' values: the claim's once hashed the whole table."""
    name, params, _ = CASES[case]
    if name == "job_list":
        name = list_query(params["status"], params["type"])
    nodes = _generic_plan(big_url, name, params)
    seq = [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "jobs"]
    assert not seq, f"{case}: sequential scan of jobs in the generic plan: {seq}"


def _entries_read_from_jobs(nodes: list[dict[str, Any]]) -> int:
    """Rows the scans of jobs looked at: those returned plus those their filters threw away."""
    return sum(int(n["Actual Rows"] * n["Actual Loops"] + n.get("Rows Removed by Filter", 0))
               for n in nodes if n.get("Relation Name") == "jobs")


def _page_costs(conn: psycopg.Connection[Any], params: dict[str, Any]) -> dict[str, int]:
    """Entries read for one page of job_list with these filters, in its custom and its generic plan."""
    name = list_query(params["status"], params["type"])
    return {"custom": _entries_read_from_jobs(_analyze(conn, name, params)),
            "generic": _entries_read_from_jobs(_explain_generic(conn, name, params, analyze=True))}


def test_a_status_page_reads_one_page_when_the_newest_jobs_have_other_statuses(big_url: str) -> None:
    """The newest 20,024 jobs of the workspace are queued or running, and COMPLETED is 80 % of the rest:
    knowing that, the planner read the list index and filtered on the status, expecting 50 COMPLETED jobs
    within 63 entries, and walked past all 20,024 (254-347 ms at 10 M rows, docs/benchmarks.md)."""
    with connect(big_url) as conn:
        completed = _page_costs(conn, {**LIST, "status": "COMPLETED"})
    assert completed == {"custom": 50, "generic": 50}, f"/jobs?status=COMPLETED read {completed} entries"


def test_a_type_page_reads_one_page_when_the_newest_jobs_have_other_types(big_url: str) -> None:
    """The same for a type: PING is 95 % of the table (at 89 % the planner was already undecided), and
    5,000 DELIVER jobs of the workspace have just failed (added in a rolled-back transaction, ANALYZE'd
    inside it)."""
    with connect(big_url) as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, result, created_at, started_at, "
                     "completed_at, attempts) SELECT %s, 'DELIVER', 'FAILED', '{}', '{}', "
                     "now() + make_interval(secs => i), now(), now(), 1 FROM generate_series(1, 5000) AS i",
                     (WORKSPACE,))
        conn.execute("ANALYZE jobs")
        ping = _page_costs(conn, {**LIST, "type": "PING"})
        conn.execute("ROLLBACK")
        conn.execute("ANALYZE jobs")  # the statistics of the fixture again (ANALYZE's reltuples outlive a rollback)
    assert ping == {"custom": 50, "generic": 50}, f"/jobs?type=PING read {ping} entries"


BURST = 33_000
PINGS = 30_000  # the oldest of the burst; then 3,000 EXPORTs


@pytest.mark.parametrize("statistics", ["taken before the burst", "fresh"])
def test_the_claim_reads_a_few_entries_per_type_whatever_the_backlog_and_the_statistics(
        database_url: str, statistics: str) -> None:
    """A burst of 30,000 due PINGs, then 3,000 due EXPORTs, after 20,000 finished jobs, ANALYZEd before
    the burst (what autovacuum last saw: no QUEUED job; it analyzes again after 2 % of the table changed,
    and a drain can be over by then) or after it. With the (priority, run_at) claim index both plans
    found the EXPORTs by walking past every PING (30,110 entries read for 36 claims), and with older
    statistics (bench.drain) the planner sorted the whole PING backlog per claim. Each type and priority
    is now one range of jobs_queued_idx: a few entries per claim, in the custom and the generic plan."""
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, completed_at) SELECT %s, 'PING', "
                     "'COMPLETED', '{}', now() FROM generate_series(1, %s)", (WORKSPACE, HISTORY // 10))
        conn.execute("ANALYZE jobs")  # what autovacuum saw last: a history, and no QUEUED job
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, run_at) SELECT %s, "
                     "CASE WHEN i > %s THEN 'EXPORT' ELSE 'PING' END, jsonb_build_object('i', i), "
                     "now() - make_interval(secs => %s - i) FROM generate_series(1, %s) AS i",
                     (WORKSPACE, PINGS, BURST, BURST))
        if statistics == "fresh":
            conn.execute("ANALYZE jobs")
        with _rolled_back(conn):
            claimed = conn.execute(query("job_claim"), LIGHT_CLAIM).fetchall()
        with _rolled_back(conn):
            custom = _entries_read_from_jobs(_analyze(conn, "job_claim", LIGHT_CLAIM))
        with _rolled_back(conn):
            generic = _entries_read_from_jobs(_explain_generic(conn, "job_claim", LIGHT_CLAIM, analyze=True))
    by_type = {t: [r["payload"]["i"] for r in claimed if r["type"] == t] for t in ("EXPORT", "PING")}
    assert by_type["EXPORT"] == [PINGS + 1, PINGS + 2, PINGS + 3, PINGS + 4], "the oldest EXPORTs, oldest first"
    assert by_type["PING"] == list(range(1, 33)), "the 32 oldest PINGs, oldest first"
    claims = LIGHT_CLAIM["limit"] + LIGHT_CLAIM["light_limit"]
    assert custom <= 4 * claims, f"the claim read {custom} entries of jobs for {claims} claims"
    assert generic <= 4 * claims, f"the claim's generic plan read {generic} entries of jobs for {claims} claims"


@contextlib.contextmanager
def _rolled_back(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """A transaction for an EXPLAIN ANALYZE of a write (or a claim to look at), undone after it."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")


def test_a_completion_probes_the_primary_key_with_statistics_from_before_the_burst(database_url: str) -> None:
    """Spelled "status = 'IN_PROGRESS'", the completion's fence let the planner (statistics: no job in
    progress) read every entry of jobs_in_progress_idx, dead ones of finished jobs included, and hash them,
    instead of probing the primary key once per completion."""
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, completed_at) SELECT %s, 'PING', "
                     "'COMPLETED', '{}', now() FROM generate_series(1, %s)", (WORKSPACE, HISTORY // 10))
        conn.execute("ANALYZE jobs")
        conn.execute("INSERT INTO jobs (workspace_id, type, payload) SELECT %s, 'PING', '{}' "
                     "FROM generate_series(1, 2000)", (WORKSPACE,))
        claimed = conn.execute(query("job_claim"), LIGHT_CLAIM).fetchall()
        done = Jsonb([{"id": str(r["id"]), "attempts": r["attempts"], "result": {}} for r in claimed])
        with _rolled_back(conn):
            nodes = _analyze(conn, "job_complete", {"worker_id": LIGHT_CLAIM["worker_id"], "done": done})
    indexes = {n.get("Index Name") for n in nodes if n["Actual Loops"]} - {None}
    finished = max(n["Actual Rows"] for n in nodes if n["Node Type"] == "ModifyTable")
    assert finished == len(claimed) == LIGHT_CLAIM["light_limit"], "every claimed job completes"
    assert indexes == {"jobs_pkey"}, f"the completion read {indexes}"


def test_the_previous_releases_priorities_function_still_answers_for_a_rolling_deploy(big_url: str) -> None:
    """A worker of the previous release claims through job_queued_priorities() until it is replaced."""
    with connect(big_url) as conn:
        old = [r["p"] for r in conn.execute("SELECT p FROM job_queued_priorities() AS p")]
        per_type = [r["p"] for r in conn.execute("SELECT p FROM job_queued_priorities('PING') AS p")]
    assert old == per_type == [10, 5, 0], "every queued priority once, highest first"


def test_the_generic_completion_probes_the_primary_key_in_a_small_table(database_url: str) -> None:
    """20,000 finished jobs and one completion: the generic plan expects 100 completions, and with the
    fence alone to go on it read the whole table sequentially (20,001 rows, 1.2 ms; until 2026-12-07 on
    every claim too, which carried an empty completion part)."""
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, completed_at) SELECT %s, 'PING', "
                     "'COMPLETED', '{}', now() FROM generate_series(1, 20000)", (WORKSPACE,))
        conn.execute("VACUUM ANALYZE jobs")
        conn.execute("INSERT INTO jobs (workspace_id, type, payload) VALUES (%s, 'PING', '{}')", (WORKSPACE,))
        [claimed] = conn.execute(query("job_claim"), {**LIGHT_CLAIM, "light_limit": 1}).fetchall()
        done = Jsonb([{"id": str(claimed["id"]), "attempts": 1, "result": {}}])
        with _rolled_back(conn):
            nodes = _explain_generic(conn, "job_complete", {"worker_id": LIGHT_CLAIM["worker_id"], "done": done},
                                     analyze=True)
    completed = max(n["Actual Rows"] for n in nodes if n["Node Type"] == "ModifyTable")
    assert completed == 1, "the one claimed job completes"
    read = _entries_read_from_jobs(nodes)
    assert read <= 10, f"a completion of one job read {read} entries of jobs"


@pytest.mark.parametrize("case", ["/metrics job_count_active", "claim", "claim with light slots", "completion",
                                  "worker_wait next due"])
def test_the_queues_own_queries_cost_less_than_jit_compiles(big_url: str, case: str) -> None:
    """Estimated above jit_above_cost (100,000 by default), a statement is JIT-compiled on every run:
    /metrics' count, with the types and priorities inlined, was estimated at 121,000 and spent 10 ms of
    each scrape compiling. /metrics runs on the web's pool (custom or generic plans); the worker's
    statements are planned with their values through a transaction pooler, and elsewhere run generic
    plans on connections with JIT off (tests/integration/test_claim.py)."""
    name, params, _ = CASES[case]
    with connect(big_url) as conn:
        limit = float(conn.execute("SELECT current_setting('jit_above_cost') AS c").fetchone()["c"])
        row = conn.execute("EXPLAIN (FORMAT JSON) " + query(name), params).fetchone()
        generic = _explain_generic(conn, name, params) if name == "job_count_active" else None
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], list) else json.loads(row["QUERY PLAN"])
    costs = {"custom": plan[0]["Plan"]["Total Cost"], **({"generic": generic[0]["Total Cost"]} if generic else {})}
    assert max(costs.values()) < limit, f"{case}: estimated {costs} (jit_above_cost {limit:g})"
