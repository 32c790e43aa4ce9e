"""The running system of issue 2: real worker processes on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from common.db import is_transaction_pooler
from tests.support.databases import WORKSPACE, connect, handler_calls, insert_job, job, wait_status
from tests.support.processes import ROOT, wait_for


def test_seed_insert_is_completed_and_woken_by_notify(database_url, services):
    # A 60 s poll cannot explain a pickup within the test's bound: the wake-up must be the NOTIFY.
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=60)
    wait_for(lambda: worker.metric("reportgen_listener_up") == 1, timeout=10, message="listener up")
    notify_before = worker.metric("reportgen_worker_wakeups_total", {"source": "notify"})
    job_id = insert_job(database_url)
    done = wait_status(database_url, job_id, "COMPLETED", timeout=10)
    assert done["started_at"] is not None and done["completed_at"] >= done["started_at"]
    assert done["attempts"] == 1
    assert done["result"]["pong"] is True and "handler_started_at" in done["result"]
    assert worker.metric("reportgen_worker_wakeups_total", {"source": "notify"}) > notify_before


def test_a_traced_ping_reports_each_step_of_its_pickup_in_order(database_url, services):
    # A 60 s poll and a worker already waiting: the pickup is its NOTIFY's, whose steps the trace splits.
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=60)
    wait_for(lambda: worker.metric("reportgen_listener_up") == 1, timeout=10, message="listener up")
    with connect(database_url) as conn:
        wait_for(lambda: conn.execute("SELECT count(*) AS n FROM worker_waiting").fetchone()["n"] > 0,
                 timeout=10, message="the worker waits for work")
    # Past the worker's second look (runner.LINGER_SECONDS after marking itself waiting): a job inserted
    # within it is claimed by that look, not by its NOTIFY, and its trace then carries an earlier wake-up
    # (seen through PgBouncer, where the statements around the mark take longer).
    time.sleep(0.5)
    before = time.time()
    job_id = insert_job(database_url, payload='{"trace": true}')
    done = wait_status(database_url, job_id, "COMPLETED", timeout=10)
    trace = done["result"]["trace"]
    steps = ["notify_heard", "loop_resumed", "claim_sent", "claim_now", "claim_seen", "dispatched",
             "handler_entry"]
    assert set(trace) == set(steps)
    assert trace["claim_now"] == done["started_at"].timestamp()
    worker_steps = [trace[s] for s in steps if s != "claim_now"]  # claim_now is the server's clock
    assert worker_steps == sorted(worker_steps)
    assert trace["notify_heard"] >= before  # this job's NOTIFY, not an earlier one
    plain = wait_status(database_url, insert_job(database_url), "COMPLETED", timeout=10)
    assert "trace" not in plain["result"]


def test_light_jobs_have_their_own_slots_and_the_others_keep_their_bound(database_url, services):
    services("worker", database_url, WORKER_CONCURRENCY=1, WORKER_LIGHT_CONCURRENCY=2)
    first = insert_job(database_url, "WAIT_FOR_CANCEL")
    wait_status(database_url, first, "IN_PROGRESS", timeout=10)
    second = insert_job(database_url, "WAIT_FOR_CANCEL")
    pings = [insert_job(database_url, "PING", '{"sleep_seconds": 1}') for _ in range(3)]
    for ping in pings:  # not held behind the one full slot of the other types
        wait_status(database_url, ping, "COMPLETED", timeout=10)
    rows = sorted((job(database_url, p) for p in pings), key=lambda r: r["started_at"])
    # Each PING works 1 s: the third started only once one of the first two had ended. (Not compared with
    # their completed_at: that is when the completer recorded them, which may follow the next claim.)
    together = (rows[1]["started_at"] - rows[0]["started_at"]).total_seconds()
    waited = (rows[2]["started_at"] - rows[0]["started_at"]).total_seconds()
    assert together < 0.9, f"two light slots: the first two ran at once ({together:.3f} s apart)"
    assert waited >= 0.9, f"two light slots: the third waited ({waited:.3f} s)"
    assert job(database_url, second)["status"] == "QUEUED", "WORKER_CONCURRENCY=1 still bounds the rest"


def test_poll_picks_up_jobs_when_the_trigger_is_disabled(database_url, services):
    with connect(database_url) as conn:
        conn.execute("ALTER TABLE jobs DISABLE TRIGGER jobs_queued_notify")
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=0.5)
    wait_for(lambda: worker.metric("reportgen_listener_up") == 1, timeout=10, message="listener up")
    notify_before = worker.metric("reportgen_worker_wakeups_total", {"source": "notify"})
    job_id = insert_job(database_url)
    wait_status(database_url, job_id, "COMPLETED", timeout=10)
    assert worker.metric("reportgen_worker_wakeups_total", {"source": "notify"}) == notify_before
    assert worker.metric("reportgen_worker_wakeups_total", {"source": "poll"}) >= 1


def test_four_workers_complete_5000_jobs_exactly_once(database_url, services):
    workers = [services("worker", database_url, WORKER_CONCURRENCY=8, LOG_LEVEL="WARNING") for _ in range(4)]
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload) "
                     "SELECT %s, 'COUNT', 'QUEUED', '{}' FROM generate_series(1, 5000)", (WORKSPACE,))
    wait_for(lambda: _count(database_url, "COMPLETED") == 5000, timeout=240, interval=0.25,
             message="5000 jobs completed")
    calls = handler_calls(database_url)
    assert len(calls) == 5000
    assert len({c["job_id"] for c in calls}) == 5000
    assert len({c["pid"] for c in calls}) == 4, "every worker process took part"
    with connect(database_url) as conn:
        assert conn.execute("SELECT max(attempts) AS m FROM jobs").fetchone()["m"] == 1
    for worker in workers:
        assert worker.healthy()


def test_an_unknown_job_type_waits_for_a_worker_that_has_it_and_the_worker_goes_on(database_url, services):
    """Claims name the worker's types (issue 10): a type no worker has stays QUEUED, untouched, instead of
    failing on whichever worker claims it (a rolling deploy that adds a type)."""
    services("worker", database_url)
    unknown = insert_job(database_url, "NO_SUCH_TYPE")
    good = insert_job(database_url)
    wait_status(database_url, good, "COMPLETED")
    row = job(database_url, unknown)
    assert row["status"] == "QUEUED" and row["attempts"] == 0 and row["error"] is None


def test_worker_reconnects_after_its_listener_is_terminated(database_url, services):
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=60)
    old_pid = wait_for(lambda: _listener_pid(database_url), timeout=10, message="listener connected")
    with connect(database_url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    new_pid = wait_for(lambda: (pid := _listener_pid(database_url)) not in (None, old_pid) and pid,
                       timeout=15, message="a new listener connection")
    assert new_pid != old_pid
    job_id = insert_job(database_url)
    wait_status(database_url, job_id, "COMPLETED", timeout=10)
    assert worker.metric("reportgen_listener_up") == 1


def test_reportgen_ping_exits_zero_against_a_running_system(database_url, services):
    services("worker", database_url)
    result = subprocess.run([sys.executable, "-m", "reportgen.cli", "ping", "--timeout", "5"], cwd=ROOT,
                            env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout


def test_reportgen_ping_fails_clearly_without_a_worker(database_url):
    result = subprocess.run([sys.executable, "-m", "reportgen.cli", "ping", "--timeout", "0.5"], cwd=ROOT,
                            env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert "QUEUED" in result.stderr and "worker" in result.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({"DATABASE_URL": "mysql://nope"}, "DATABASE_URL must look like postgresql://"),
    ({"DATABASE_URL": "postgresql://u@h/db", "SERVICE_MODE": "batch"}, "SERVICE_MODE must be one of"),
    ({"DATABASE_URL": "postgresql://u@h/db", "DEFAULT_WORKSPACE_ID": "abc"}, "DEFAULT_WORKSPACE_ID must be a UUID"),
    ({"DATABASE_URL": "postgresql://u@h/db", "WORKER_CONCURRENCY": "many"}, "WORKER_CONCURRENCY must be an integer"),
])
def test_bad_configuration_exits_with_one_clear_line(env, message):
    result = subprocess.run([sys.executable, "-m", "worker"], cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def _count(url: str, status: str) -> int:
    with connect(url) as conn:
        return conn.execute("SELECT count(*) AS n FROM jobs WHERE status = %s", (status,)).fetchone()["n"]


def _listener_pid(url: str) -> int | None:
    with connect(url) as conn:
        row = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = 'report-generator-listener'").fetchone()
    return row["pid"] if row else None



def test_serve_all_runs_web_and_worker_in_one_process_and_seeds_the_examples(database_url, tmp_path):
    from tests.support.processes import Service

    service = Service("reportgen.cli", database_url, args=("serve",), env={"SERVICE_MODE": "all"}, log_dir=tmp_path)
    try:
        service.start()
        api = service.client(timeout=5)
        created = api.post("/api/jobs", json={"type": "PING"})
        assert created.status_code == 201
        wait_status(database_url, created.json()["id"], "COMPLETED", timeout=10)
        wait_for(lambda: len(api.get("/api/templates").json()["templates"]) >= 3,
                 timeout=15, message="example templates created on first start")
        # Through a transaction pooler without LISTEN_DATABASE_URL (make test-pgbouncer) it runs poll-only.
        expected_up = 0 if is_transaction_pooler(database_url) else 1
        assert service.metric("reportgen_listener_up") == expected_up, "one /metrics shows the worker half too"
    finally:
        service.stop()
    assert service.process.returncode == 0
