"""Cancel while running, per-job timeouts, and a lease that runs out on the last attempt."""

from __future__ import annotations

import asyncio

from common import db, jobs
from tests.support.databases import WORKSPACE, connect, handler_calls, insert_job, job, wait_status
from tests.support.processes import wait_for


def _cancel(url: str, job_id: str) -> dict:
    async def go() -> dict:
        async with await db.connect_async(url) as conn:
            return await jobs.cancel(conn, WORKSPACE, job_id)
    return asyncio.run(go())


def test_cancelling_a_running_job_tells_the_handler_and_ends_it_cancelled(database_url, services):
    services("worker", database_url, JOB_LEASE_SECONDS=30)
    job_id = insert_job(database_url, "WAIT_FOR_CANCEL", '{"seconds": 60}')
    wait_for(lambda: handler_calls(database_url, job_id), timeout=10, message="handler running")
    flagged = _cancel(database_url, job_id)
    assert flagged["status"] == "IN_PROGRESS" and flagged["cancel_requested_at"] is not None
    # The NOTIFY on jobs_cancel makes the worker look at once, long before the 10 s heartbeat.
    done = wait_status(database_url, job_id, "CANCELLED", timeout=5)
    assert done["completed_at"] is not None and done["locked_by"] is None
    assert len(handler_calls(database_url, job_id)) == 1


def test_cancelling_a_queued_job_is_immediate_and_it_never_runs(database_url, services):
    job_id = insert_job(database_url, "COUNT")
    assert _cancel(database_url, job_id)["status"] == "CANCELLED"
    services("worker", database_url)
    marker = insert_job(database_url, "COUNT")
    wait_status(database_url, marker, "COMPLETED")
    assert job(database_url, job_id)["status"] == "CANCELLED"
    assert handler_calls(database_url, job_id) == []


def test_a_per_job_timeout_fails_the_stuck_attempt_and_retries(database_url, services):
    services("worker", database_url, RETRY_BACKOFF_SECONDS=0.1, POLL_INTERVAL_SECONDS=0.3)
    with connect(database_url) as conn:
        job_id = str(conn.execute(
            "INSERT INTO jobs (workspace_id, type, payload, timeout_seconds, max_attempts) "
            "VALUES (%s, 'PING', '{\"sleep_seconds\": 30}', 0.5, 2) RETURNING id", (WORKSPACE,)).fetchone()["id"])
    failed = wait_status(database_url, job_id, "FAILED", timeout=20)
    assert failed["attempts"] == 2
    assert failed["error"].startswith("TimeoutError: attempt timed out after 0.5 s")


def test_a_lease_that_expires_on_the_last_attempt_fails_the_job(database_url, services):
    first = services("worker", database_url, JOB_LEASE_SECONDS=1)
    with connect(database_url) as conn:
        job_id = str(conn.execute(
            "INSERT INTO jobs (workspace_id, type, payload, max_attempts) "
            "VALUES (%s, 'SLOW_FIRST_CALL', '{\"sleep_seconds\": 60}', 1) RETURNING id", (WORKSPACE,)
        ).fetchone()["id"])
    wait_for(lambda: handler_calls(database_url, job_id), timeout=10, message="attempt started")
    first.process.kill()
    first.wait_exit(5)
    services("worker", database_url, JOB_LEASE_SECONDS=1, POLL_INTERVAL_SECONDS=0.3)
    failed = wait_status(database_url, job_id, "FAILED", timeout=15)
    assert failed["error"] == "lease expired" and failed["attempts"] == 1
