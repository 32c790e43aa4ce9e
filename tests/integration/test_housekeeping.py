"""Pruning old finished jobs, and claiming that stays on its index with many finished rows."""

from __future__ import annotations

import asyncio
import json

from common.queue import PRUNE_BATCH
from common.queue_types import Pruned
from common.sql import query
from tests.support.databases import WORKSPACE, connect
from tests.support.factories import open_store


def _seed_finished(url: str, n: int, age: str) -> None:
    with connect(url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload, attempts, created_at, run_at, "
                     "started_at, completed_at) SELECT %s, 'PING', 'COMPLETED', '{}', 1, now() - %s::interval, "
                     "now() - %s::interval, now() - %s::interval, now() - %s::interval FROM generate_series(1, %s)",
                     (WORKSPACE, age, age, age, age, n))


def test_prune_deletes_old_finished_jobs_in_batches_and_keeps_the_rest(database_url):
    _seed_finished(database_url, PRUNE_BATCH * 2 + 10, "30 days")
    _seed_finished(database_url, 50, "1 hour")
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, created_at) VALUES (%s, 'PING', '{}', "
                     "now() - interval '60 days')", (WORKSPACE,))

    async def run() -> Pruned:
        async with open_store(database_url) as store:
            return await store.prune_finished(retention_seconds=14 * 86400)

    pruned = asyncio.run(run())
    assert (pruned.deleted, pruned.behind) == (PRUNE_BATCH * 2 + 10, False), "a short last batch: caught up"
    with connect(database_url) as conn:
        left = conn.execute("SELECT status, count(*) AS n FROM jobs GROUP BY status ORDER BY status").fetchall()
    assert {r["status"]: r["n"] for r in left} == {"COMPLETED": 50, "QUEUED": 1}, "old QUEUED jobs are never pruned"


def test_claiming_uses_the_partial_index_with_many_finished_jobs(database_url):
    _seed_finished(database_url, 200_000, "1 day")
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, payload) VALUES (%s, 'PING', '{}')", (WORKSPACE,))
        conn.execute("ANALYZE jobs")
        conn.execute("BEGIN")
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + query("job_claim"),
                            {"limit": 10, "worker_id": "explain", "lease_seconds": 30,
                             "types": ["PING"], "light_types": [], "light_limit": 0}).fetchone()
        conn.execute("ROLLBACK")
    text = str(plan)
    # The partial index holds only the live queue, not the history, and is read in the claim's order.
    assert "jobs_queued_idx" in text, text
    assert "Seq Scan" not in text


def test_heartbeats_are_hot_updates(database_url):
    # No index covers a column a heartbeat changes (lease_expires_at, updated_at), and fillfactor leaves
    # room in the page: every lease extension is a HOT update, with no index writes.
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, payload) VALUES (%s, 'PING', '{}')", (WORKSPACE,))
        claimed = conn.execute(query("job_claim"), {"limit": 1, "worker_id": "w", "lease_seconds": 30,
                                                    "types": ["PING"], "light_types": [],
                                                    "light_limit": 0}).fetchall()
        held = json.dumps([{"id": str(claimed[0]["id"]), "attempts": 1}])
        counts = ("SELECT pg_stat_get_xact_tuples_updated('jobs'::regclass) AS updated, "
                  "pg_stat_get_xact_tuples_hot_updated('jobs'::regclass) AS hot")
        conn.execute("BEGIN")
        before = conn.execute(counts).fetchone()  # this backend's counts not yet flushed (the claim)
        for _ in range(20):
            assert conn.execute(query("job_extend_leases"), {"held": held, "worker_id": "w", "types": ["PING"],
                                                             "lease_seconds": 30}).fetchall()
        after = conn.execute(counts).fetchone()
        conn.execute("COMMIT")
    assert after["updated"] - before["updated"] == 20
    assert after["hot"] - before["hot"] == 20, "every heartbeat a HOT update"
