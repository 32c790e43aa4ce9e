"""The heartbeat service: renewals on its own connection, cancel requests, lost claim replies, and the
watchdog that stops a handler before its lease can end in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from common.queue_types import ClaimedJob, Lease
from tests.support.databases import connect, job
from tests.support.factories import WORKER, attempts_of, make_job, metrics, open_store, run, settings
from worker.context import JobContext
from worker.heartbeat import Heartbeat, safety_margin
from worker.state import Running, WorkerState


def _running(job_id: str, attempts: int, renewed_at: float) -> Running:
    now = datetime.now(UTC)
    claimed = ClaimedJob(job_id, "ws", "PING", {}, attempts, 3, None, now, now, now)
    ctx = JobContext(id=job_id, workspace_id="ws", type="PING", payload={}, attempt=attempts, max_attempts=3,
                     created_at=now, settings=settings(), database_url="")
    return Running(job=claimed, ctx=ctx, renewed_at=renewed_at)


def _lease_left(url: str, job_id: str) -> float:
    with connect(url) as conn:
        return conn.execute("SELECT extract(epoch FROM lease_expires_at - now())::float8 AS s FROM jobs "
                            "WHERE id = %s", (job_id,)).fetchone()["s"]


def test_a_renewal_extends_held_leases_reports_cancels_and_registers_the_worker(database_url):
    held = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=2)
    cancelled = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=2, cancel_requested=True)

    async def go():
        state = WorkerState()
        async with open_store(database_url, types=("PING", "COUNT")) as store:
            state.running[held] = _running(held, 1, state.now())
            state.running[cancelled] = _running(cancelled, 1, state.now())
            beat = Heartbeat(store, state, metrics(), lease_seconds=30)
            renewal = await beat.run_once()
            return renewal, state

    renewal, state = run(go())
    assert renewal is not None and renewal.kept == {held: False, cancelled: True}
    assert _lease_left(database_url, held) > 25
    assert state.running[cancelled].stop_reason == "cancel" and state.running[cancelled].ctx.cancel_requested.is_set()
    assert state.running[held].stop_reason is None
    with connect(database_url) as conn:
        row = conn.execute("SELECT types FROM workers WHERE worker_id = %s", (WORKER,)).fetchone()
    assert row is not None and sorted(row["types"]) == ["COUNT", "PING"]


def test_a_lease_that_is_gone_stops_its_handler(database_url):
    rescued = make_job(database_url, status="IN_PROGRESS", attempts=2, locked_by="another-worker")

    async def go():
        state = WorkerState()
        async with open_store(database_url) as store:
            state.running[rescued] = _running(rescued, 1, state.now())  # we still think we run attempt 1
            await Heartbeat(store, state, metrics(), lease_seconds=30).run_once()
        return state

    assert run(go()).running[rescued].stop_reason == "lease_lost"


def test_jobs_locked_by_us_that_we_never_received_are_given_back_at_once(database_url):
    """A claim whose reply was lost (the connection dropped after the commit) left these rows locked by
    this worker: the next heartbeat gives them back, attempt not counted, instead of a lease later."""
    lost = make_job(database_url, status="IN_PROGRESS", attempts=1, max_attempts=1)

    async def go(in_flight: int):
        state = WorkerState()
        state.claims_in_flight = in_flight
        async with open_store(database_url) as store:
            return await Heartbeat(store, state, metrics(), lease_seconds=30).run_once()

    renewal = run(go(in_flight=1))
    assert renewal is not None and renewal.unknown == (Lease(lost, 1),)
    assert job(database_url, lost)["status"] == "IN_PROGRESS", "a claim in flight may still deliver it"
    run(go(in_flight=0))
    row = job(database_url, lost)
    assert row["status"] == "QUEUED" and row["attempts"] == 0, "given back; with max_attempts=1 it still runs"
    assert [a["outcome"] for a in attempts_of(database_url, lost)] == ["given_back"]


def test_the_watchdog_stops_a_handler_whose_last_renewal_is_older_than_lease_minus_margin(database_url):
    async def go():
        state = WorkerState()
        async with open_store(database_url) as store:
            beat = Heartbeat(store, state, metrics(), lease_seconds=6)
            fresh = _running("00000000-0000-4000-8000-000000000001", 1, state.now())
            stale = _running("00000000-0000-4000-8000-000000000002", 1, state.now() - (6 - safety_margin(6)) - 0.01)
            for running in (fresh, stale):
                running.task = asyncio.create_task(asyncio.sleep(60))
                state.running[running.job.id] = running
            stopped = beat.watch_once()
            await asyncio.sleep(0)
            return stopped, fresh, stale

    stopped, fresh, stale = run(go())
    assert stopped == [stale.job.id]
    assert stale.stop_reason == "lease_lost" and stale.task is not None and stale.task.cancelled()
    assert fresh.stop_reason is None
    assert safety_margin(6) == 1.0 and safety_margin(30) == 5.0 and safety_margin(0.6) == 0.25


def test_renewals_do_not_wait_for_a_pool_that_handlers_exhausted(database_url):
    held = make_job(database_url, status="IN_PROGRESS", attempts=1, lease_seconds=2)

    async def go():
        state = WorkerState()
        async with open_store(database_url) as store:
            state.running[held] = _running(held, 1, state.now())
            taken = [await store.pool.getconn() for _ in range(store.pool.max_size)]  # handlers hold them all
            try:
                return await asyncio.wait_for(Heartbeat(store, state, metrics(), lease_seconds=30).run_once(), 5)
            finally:
                for conn in taken:
                    await store.pool.putconn(conn)

    renewal = run(go())
    assert renewal is not None and held in renewal.kept
    assert _lease_left(database_url, held) > 25
