"""The executor: one claimed job run to its end, and how each ending is recorded (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from common.config import Settings
from tests.support.databases import connect, job
from tests.support.factories import attempts_of, make_job, metrics, open_store, run
from worker.completer import Completer
from worker.context import JobContext
from worker.executor import Executor
from worker.registry import Handler
from worker.state import Running, WorkerState


def _execute(url: str, handler: Handler, *, timeout: float | None = None, cancel_requested: bool = False,
             max_attempts: int = 3) -> tuple[str, str]:
    job_id = make_job(url, type="PING", max_attempts=max_attempts)
    with connect(url) as conn:
        conn.execute("UPDATE jobs SET timeout_seconds = %s WHERE id = %s", (timeout, job_id))

    async def go() -> tuple[str, WorkerState]:
        state = WorkerState()
        async with open_store(url, types=("PING",)) as store:
            [claimed] = await store.claim(1, 30.0)
            if cancel_requested:
                with connect(url) as conn:
                    conn.execute("UPDATE jobs SET cancel_requested_at = now() WHERE id = %s", (job_id,))
            completer = Completer(store, on_written=lambda f, ok: state.unrecorded.pop(f.id, None),
                                  on_unstorable=lambda f, e: asyncio.sleep(0))
            settings = Settings(retry_backoff_seconds=0.0)
            executor = Executor(store, {"PING": handler}, state, completer, settings, metrics(), on_done=lambda: None)
            ctx = JobContext(id=claimed.id, workspace_id=claimed.workspace_id, type="PING", payload={},
                             attempt=1, max_attempts=max_attempts, created_at=claimed.created_at,
                             settings=settings, database_url=url)
            running = Running(job=claimed, ctx=ctx, renewed_at=state.now())
            state.running[claimed.id] = running
            outcome = await executor.execute(running)
            while completer.pending:
                await completer.run_once()
            return outcome, state

    outcome, state = run(go())
    assert state.running == {} and state.unrecorded == {}, "nothing left held"
    return job_id, outcome


async def _nan(ctx: JobContext) -> dict[str, Any]:
    return {"ratio": float("nan")}


async def _raises_timeout(ctx: JobContext) -> dict[str, Any]:
    raise TimeoutError("the upstream service timed out")


async def _sleeps(ctx: JobContext) -> dict[str, Any]:
    await asyncio.sleep(30)
    return {}


async def _fails(ctx: JobContext) -> dict[str, Any]:
    raise RuntimeError("boom")


async def _ok(ctx: JobContext) -> dict[str, Any]:
    return {"fine": True}


def test_a_result_jsonb_cannot_hold_fails_that_job_with_a_clear_error(database_url):
    job_id, outcome = _execute(database_url, _nan)
    assert outcome == "failed"
    row = job(database_url, job_id)
    assert row["status"] == "FAILED", "not retried: the same result would come back"
    assert row["error"].startswith("ResultNotStorable: the handler's result cannot be stored as JSON")
    [attempt] = attempts_of(database_url, job_id)
    assert attempt["outcome"] == "failed" and attempt["error"]["type"] == "ResultNotStorable"


def test_a_timeout_error_raised_by_the_handler_is_its_error_even_without_a_timeout(database_url):
    job_id, _ = _execute(database_url, _raises_timeout, timeout=None)
    row = job(database_url, job_id)
    assert row["status"] == "QUEUED" and row["attempts"] == 1, "an ordinary failure: retried"
    assert row["error"].startswith("TimeoutError: the upstream service timed out")
    assert attempts_of(database_url, job_id)[0]["error"]["frames"], "frames kept"


def test_the_jobs_own_timeout_fails_the_attempt_with_its_length(database_url):
    job_id, _ = _execute(database_url, _sleeps, timeout=0.2)
    assert job(database_url, job_id)["error"] == "TimeoutError: attempt timed out after 0.2 s"


def test_a_cancel_request_survives_a_failure_that_would_retry(database_url):
    """Before issue 10 the failure put the job back in the queue and the next claim cleared the request."""
    job_id, outcome = _execute(database_url, _fails, cancel_requested=True)
    assert outcome == "failed"
    row = job(database_url, job_id)
    assert row["status"] == "CANCELLED" and row["completed_at"] is not None


def test_a_cancel_request_survives_a_give_back(database_url):
    job_id = make_job(database_url, status="IN_PROGRESS", attempts=1, cancel_requested=True)

    async def go() -> int:
        async with open_store(database_url) as store:
            return await store.give_back_all([], timeout=5)

    assert run(go()) == 1
    assert job(database_url, job_id)["status"] == "CANCELLED"


def test_a_completed_attempt_is_recorded_with_its_history(database_url):
    job_id, _ = _execute(database_url, _ok)
    row = job(database_url, job_id)
    assert row["status"] == "COMPLETED" and row["result"] == {"fine": True}
    assert [a["outcome"] for a in attempts_of(database_url, job_id)] == ["completed"]
