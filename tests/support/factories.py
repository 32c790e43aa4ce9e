"""Rows in the state a test needs, and the queue objects a service test drives with ``run_once()``.

River's tests build jobs in the state they need and call a service's ``runOnce``; these do the same, so
that a lease bug shows up in a second instead of in a subprocess drill.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from common.config import Settings
from common.metrics import Metrics
from common.queue import QueueStore
from tests.support.databases import WORKSPACE, connect

T = TypeVar("T")
WORKER = "test-worker-1"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end; in a thread of its own when this one has a loop (Playwright's sync API)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def make_job(url: str, *, type: str = "PING", status: str = "QUEUED", payload: str = "{}", attempts: int = 0,
             max_attempts: int = 3, locked_by: str | None = None, lease_seconds: float = 30.0,
             cancel_requested: bool = False, run_in_seconds: float = 0.0, priority: int = 0) -> str:
    """One job row; IN_PROGRESS rows get a lease of ``lease_seconds`` from now (negative: expired)."""
    in_progress = status == "IN_PROGRESS"
    with connect(url) as conn:
        row = conn.execute(
            "INSERT INTO jobs (workspace_id, type, status, payload, attempts, max_attempts, locked_by, "
            "lease_expires_at, started_at, cancel_requested_at, run_at, priority) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() + make_interval(secs => %s) END, "
            "CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END, now() + make_interval(secs => %s), %s) "
            "RETURNING id",
            (WORKSPACE, type, status, payload, attempts, max_attempts,
             (locked_by or WORKER) if in_progress else None, in_progress, lease_seconds, in_progress,
             cancel_requested, run_in_seconds, priority)).fetchone()
    assert row is not None
    return str(row["id"])


def attempts_of(url: str, job_id: str) -> list[dict[str, Any]]:
    with connect(url) as conn:
        return conn.execute("SELECT * FROM job_attempts WHERE job_id = %s ORDER BY id", (job_id,)).fetchall()


def settings(**overrides: Any) -> Settings:
    return Settings(**{"job_lease_seconds": 30.0, "retry_backoff_seconds": 2.0, **overrides})


@contextlib.asynccontextmanager
async def open_store(url: str, worker_id: str = WORKER, types: tuple[str, ...] = ("PING", "COUNT"),
                     ) -> AsyncIterator[QueueStore]:
    store = QueueStore(url, worker_id, types, pool_size=4)
    await store.open()
    try:
        yield store
    finally:
        await store.close(timeout=2.0)


def metrics() -> Metrics:
    return Metrics()
