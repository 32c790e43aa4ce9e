"""Through a real PgBouncer in transaction mode (Supabase's port 6543 behaves the same way).

Here ``LISTEN_DATABASE_URL`` is left unset on purpose, so the services cannot LISTEN: the worker must run
poll-only and say so, and the web's live run status must fall back to polling. Every statement runs
more than five times (psycopg's default threshold for preparing it server-side), which through this
pooler failed with ``prepared statement "_pg3_0" does not exist`` before.
"""

from __future__ import annotations

import json
from typing import Any

from common.reports import load_examples
from tests.support.databases import WORKSPACE, connect, wait_status
from tests.support.pgbouncer import PgBouncer
from tests.support.processes import wait_for

SALES = next(e for e in load_examples() if e.slug == "monthly_sales")


def _count(url: str, status: str) -> int:
    with connect(url) as conn:
        return int(conn.execute("SELECT count(*) AS n FROM jobs WHERE status = %s", (status,)).fetchone()["n"])


def test_worker_runs_poll_only_and_drains_through_a_transaction_pooler(
        direct_database_url: str, pgbouncer: PgBouncer, services: Any) -> None:
    pooled = pgbouncer.url_for(direct_database_url)
    worker = services("worker", pooled, LISTEN_DATABASE_URL="", WORKER_CONCURRENCY=8, LOG_LEVEL="INFO")
    wait_for(lambda: "LISTEN hears nothing" in worker.log(), timeout=30,
             message="the worker to find its LISTEN deaf (poll-only)")
    assert worker.metric("reportgen_listener_up") == 0
    # One job first: picked up by the 1 s poll (not the 5 s default), with no NOTIFY heard.
    with connect(direct_database_url) as conn:
        first = str(conn.execute("INSERT INTO jobs (workspace_id, type, status, payload) "
                                 "VALUES (%s, 'PING', 'QUEUED', '{}') RETURNING id", (WORKSPACE,)).fetchone()["id"])
    done = wait_status(direct_database_url, first, "COMPLETED", timeout=20)
    assert (done["started_at"] - done["created_at"]).total_seconds() < 3.0, "picked up by a ~1 s poll"
    with connect(direct_database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload) "
                     "SELECT %s, 'COUNT', 'QUEUED', '{}' FROM generate_series(1, 500)", (WORKSPACE,))
    wait_for(lambda: _count(direct_database_url, "COMPLETED") == 501, timeout=120, interval=0.25,
             message="all 501 jobs completed through the pooler")
    assert worker.metric("reportgen_worker_wakeups_total", {"source": "notify"}) == 0
    assert worker.metric("reportgen_listener_up") == 0
    assert worker.healthy()
    assert "does not exist" not in worker.log()


def test_api_and_live_run_status_through_a_transaction_pooler(
        direct_database_url: str, pgbouncer: PgBouncer, services: Any) -> None:
    pooled = pgbouncer.url_for(direct_database_url)
    web = services("web", pooled, LISTEN_DATABASE_URL="")
    wait_for(lambda: "LISTEN hears nothing" in web.log(), timeout=30,
             message="the web to find its LISTEN deaf (run status by polling)")
    with web.client() as api:
        # The reproduction of the issue: 100 POST /api/jobs through the pooler, all accepted.
        ids = []
        for _ in range(100):
            response = api.post("/api/jobs", json={"type": "PING", "payload": {}})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        examples = wait_for(lambda: [t for t in api.get("/api/templates").json()["templates"]
                                     if t["example_slug"] == SALES.slug],
                            timeout=30, message="examples seeded")
        csrf = api.get("/api/csrf").json()["csrf_token"]
        upload = api.post("/api/datasets", files={"file": ("sales.csv", SALES.datasets["sales"][1], "text/csv")},
                          headers={"X-CSRF-Token": csrf})
        assert upload.status_code == 201, upload.text
        created = api.post("/api/runs", json={"template_id": examples[0]["id"],
                                              "parameters": {"sales": upload.json()["id"]}})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        seen: list[str] = []
        with api.stream("GET", f"/api/runs/{run_id}/events") as stream:
            services("worker", pooled, LISTEN_DATABASE_URL="")
            for line in stream.iter_lines():
                if line.startswith("data: ") and "status" in line:
                    status = json.loads(line[6:])["status"]
                    if not seen or seen[-1] != status:
                        seen.append(status)
                if line.startswith("event: end"):
                    break
        assert seen[0] == "QUEUED" and seen[-1] == "COMPLETED", seen
        wait_for(lambda: all(api.get(f"/api/jobs/{i}").json()["status"] == "COMPLETED" for i in ids[-5:]),
                 timeout=30, message="the API's jobs completed")
    assert _count(direct_database_url, "COMPLETED") >= 101
