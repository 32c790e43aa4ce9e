"""The worker: claims jobs, runs their handlers, records the outcome, and keeps its leases.

The loop is ``run_once()`` (claim up to the free slots, start a task per job) plus a thin wait on the
first of: a NOTIFY on ``jobs_queued``, the poll tick (with jitter), the next delayed job coming due, a
slot freeing up, or the stop signal. It never claims more jobs than it has free slots. Side services
(listener, completer, heartbeat, reaper) run as supervised tasks: if one crashes it is logged and
restarted, never silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from common import db
from common.config import Settings, listen_url
from common.errors import DatabaseUnavailable, LeaseLost
from common.metrics import Metrics
from common.sql import query
from worker.completer import Completer, Finished
from worker.context import JobContext
from worker.heartbeat import extend_leases
from worker.listener import Listener
from worker.reaper import prune_finished, prune_waiting, rescue_expired
from worker.registry import Handler

log = logging.getLogger(__name__)

ERROR_MAX_CHARS = 4000
PRUNE_EVERY_SECONDS = 60.0
RETRY_BACKOFF_CAP_SECONDS = 600.0
LINGER_SECONDS = 0.025  # a second look after going idle, for inserts that were committing meanwhile
WAITING_ROW_STALE_SECONDS = 600.0


class UnknownJobType(Exception):
    """No handler is registered for the job's type in this worker."""


@dataclass
class Running:
    task: asyncio.Task[None]
    ctx: JobContext
    attempts: int
    stop_reason: str | None = None  # "cancel", "lease_lost" or "shutdown" once we stop it ourselves


@dataclass
class WorkerState:
    running: dict[str, Running] = field(default_factory=dict)
    unrecorded: dict[str, int] = field(default_factory=dict)  # finished, completion not yet written

    def held(self) -> list[tuple[str, int]]:
        return [(i, r.attempts) for i, r in self.running.items()] + list(self.unrecorded.items())


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(self, settings: Settings, database_url: str, handlers: dict[str, Handler],
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.url = database_url
        self.handlers = handlers
        self.metrics = metrics or Metrics()
        self.metrics.in_flight.set_function(lambda: len(self.state.running))
        self.worker_id = settings.worker_id or new_worker_id()
        self.concurrency = settings.worker_concurrency
        self.lease = settings.job_lease_seconds
        self.state = WorkerState()
        self.pool: AsyncConnectionPool = db.make_pool(
            database_url, min_size=2, max_size=4 + min(self.concurrency, 8), name="report-generator-worker",
            check=False, wait_seconds=2.0)
        self.completer = Completer(self.pool, self.worker_id, on_written=self._on_completion_written)
        self.listener = Listener(listen_url(settings, database_url), on_queued=self._on_queued,
                                 on_cancel=self._on_cancel, on_state=self._on_listener_state)
        self._wake = asyncio.Event()
        self._wake_source = "poll"
        self._slot_freed = asyncio.Event()
        self._heartbeat_now = asyncio.Event()
        self._stopping = asyncio.Event()
        self._side_tasks: list[asyncio.Task[None]] = []
        self._marked_waiting = False
        self._claim_conn: AsyncConnection | None = None

    # -- wiring -----------------------------------------------------------------------------------------

    def _on_queued(self, source: str) -> None:
        self._wake_source = "notify" if source == "notify" else "poll"
        self._wake.set()

    def _on_cancel(self, job_id: str) -> None:
        if job_id in self.state.running:
            self._heartbeat_now.set()

    def _on_listener_state(self, up: bool) -> None:
        self.metrics.listener_up.set(1 if up else 0)
        if up:  # back from an outage: renew our leases before anyone's reaper sees them expire
            self._heartbeat_now.set()
            self.completer.retry_now()
        log.info("listener %s", "connected" if up else "disconnected", extra={"worker_id": self.worker_id})

    def _on_completion_written(self, finished: Finished, still_leased: bool) -> None:
        self.state.unrecorded.pop(finished.id, None)
        if not still_leased:
            log.warning("completion not recorded: the job's lease was lost to another attempt",
                        extra={"job_id": finished.id, "attempt": finished.attempts})

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def request_stop(self) -> None:
        """Stop claiming at once; ``run()`` then finishes or gives back in-flight jobs and returns."""
        if not self._stopping.is_set():
            log.info("stopping: no new claims; %d job(s) in flight", len(self.state.running))
        self._stopping.set()
        self._wake.set()
        self._slot_freed.set()

    # -- lifecycle --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until ``request_stop()``; then shut down gracefully. Returns when everything is closed."""
        await self._open_pool()
        self._side_tasks = [
            self._supervise("listener", self.listener.run),
            self._supervise("completer", self.completer.run),
            self._supervise("heartbeat", self._heartbeat_loop),
            self._supervise("reaper", self._reaper_loop),
        ]
        log.info("worker %s started: concurrency %d, poll every %.1f s, lease %.0f s, handlers %s",
                 self.worker_id, self.concurrency, self.settings.poll_interval_seconds, self.lease,
                 ", ".join(sorted(self.handlers)))
        try:
            await self._loop()
        finally:
            await self._shutdown()

    async def _open_pool(self) -> None:
        """Open the pool without waiting for the database: a worker may start before it is up."""
        await self.pool.open(wait=False)

    def _supervise(self, name: str, fn: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        async def guarded() -> None:
            while True:
                try:
                    await fn()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("worker side task %r crashed; restarting it in 1 s", name)
                    await asyncio.sleep(1.0)
        return asyncio.create_task(guarded(), name=f"worker-{name}")

    async def _loop(self) -> None:
        failures = 0
        while not self.stopping:
            free = self.concurrency - len(self.state.running)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wake.clear()
            try:
                claimed = await self.run_once(free)
                failures = 0
                if claimed == free:  # the queue may hold more: claim again as soon as there is room
                    await self._mark_busy()
                    continue
                log.debug("No jobs found")
                await self._wait_for_work()
            except DatabaseUnavailable as exc:
                failures += 1
                self.metrics.database_errors.labels(operation="claim").inc()
                delay = min(1.0, 0.05 * 2 ** min(failures, 5)) * random.uniform(0.5, 1.0)
                log.warning("cannot claim jobs (%s); retrying in %.2f s", exc, delay)
                await self._sleep(delay)

    async def _wait_for_work(self) -> None:
        """Sleep until a NOTIFY, the poll tick or the next due job, having told inserters to wake us.

        An insert that read "nobody waits" just before we marked ourselves waiting sends no NOTIFY, and
        our last claim may not have seen it yet (it was still committing): so claim once right after
        marking, and once more a moment later, before the long sleep.
        """
        await asyncio.sleep(0)  # let the handlers just claimed start before we talk to the database again
        timeout = await self._mark_waiting()
        if await self.run_once():
            return
        for pause in (LINGER_SECONDS, timeout - LINGER_SECONDS):
            if pause <= 0:
                continue
            if await self._sleep(pause):
                self.metrics.wakeups.labels(source=self._wake_source).inc()
                return
            if pause == LINGER_SECONDS and await self.run_once():
                return
        self.metrics.wakeups.labels(source="poll").inc()

    async def _sleep(self, timeout: float) -> bool:
        """Wait for a wake-up or the timeout; True when woken."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _mark_waiting(self) -> float:
        """Ask inserts to NOTIFY us; returns how long to sleep (the poll, or until the next due job)."""
        poll = self.settings.poll_interval_seconds * random.uniform(0.9, 1.0)
        async with db.translate_errors_async(), self._claim_connection() as conn:
            row = await (await conn.execute(query("worker_wait"), {"worker_id": self.worker_id})).fetchone()
        self._marked_waiting = True
        seconds = row["seconds"] if row else None  # type: ignore[call-overload]
        if seconds is None:
            return poll
        return max(0.05, min(poll, float(seconds)))

    async def _mark_busy(self) -> None:
        """Saturated: inserts need not NOTIFY us (we claim again whenever a slot frees)."""
        if not self._marked_waiting:
            return
        async with db.translate_errors_async(), self._claim_connection() as conn:
            await conn.execute(query("worker_busy"), {"worker_id": self.worker_id})
        self._marked_waiting = False

    async def run_once(self, limit: int | None = None) -> int:
        """Claim up to ``limit`` due jobs (default: the free slots) and start them; returns how many."""
        limit = self.concurrency - len(self.state.running) if limit is None else limit
        if limit <= 0:
            return 0
        done = self.completer.take()  # finished jobs ride along: one statement, one commit for both
        written: set[str] | None = None
        try:
            async with db.translate_errors_async(), self._claim_connection() as conn:
                written, rows = await self.completer.write(conn, done, claim=limit, lease_seconds=self.lease)
        finally:
            self.completer.settle(done, written)
        for row in rows:
            self._start(row)  # type: ignore[arg-type]
        return len(rows)

    @contextlib.asynccontextmanager
    async def _claim_connection(self) -> AsyncIterator[AsyncConnection]:
        """The claim loop keeps one pooled connection checked out: a pool round per claim costs time on
        the pickup path. A connection that breaks goes back to the pool (which discards it)."""
        if self._claim_conn is None:
            self._claim_conn = await self.pool.getconn()
        try:
            yield self._claim_conn
        except BaseException:
            conn, self._claim_conn = self._claim_conn, None
            await self.pool.putconn(conn)
            raise

    async def _release_claim_connection(self) -> None:
        if self._claim_conn is not None:
            conn, self._claim_conn = self._claim_conn, None
            await self.pool.putconn(conn)

    def _start(self, row: dict[str, Any]) -> None:
        job_id = str(row["id"])
        ctx = JobContext(id=job_id, workspace_id=str(row["workspace_id"]), type=row["type"],
                         payload=row["payload"] or {}, attempt=row["attempts"], max_attempts=row["max_attempts"],
                         created_at=row["created_at"], settings=self.settings, database_url=self.url,
                         pool=self.pool)
        waited_from = max(row["created_at"], row["run_at"])
        self.metrics.child(self.metrics.job_wait, row["type"]).observe(
            max(0.0, (row["started_at"] - waited_from).total_seconds()))
        task = asyncio.create_task(self._execute(ctx, row.get("timeout_seconds")), name=f"job-{job_id}")
        self.state.running[job_id] = Running(task=task, ctx=ctx, attempts=row["attempts"])

    # -- one job ----------------------------------------------------------------------------------------

    async def _execute(self, ctx: JobContext, timeout: float | None) -> None:
        started = time.perf_counter()
        outcome = "completed"
        try:
            handler = self.handlers.get(ctx.type)
            if handler is None:
                raise UnknownJobType(f"unknown job type {ctx.type!r}: no handler in this worker "
                                     f"(known: {', '.join(sorted(self.handlers))})")
            if timeout:
                result = await asyncio.wait_for(handler(ctx), timeout)
            else:
                result = await handler(ctx)
            reason = self.state.running[ctx.id].stop_reason
            if reason is not None:  # the handler saw the stop request and returned instead of raising
                outcome = await self._stopped(ctx, reason)
            else:
                self.state.unrecorded[ctx.id] = ctx.attempt
                self.completer.submit(Finished(ctx.id, ctx.attempt, result if isinstance(result, dict)
                                               else {"value": result}))
        except asyncio.CancelledError:
            reason = self.state.running[ctx.id].stop_reason
            if reason is None:
                raise
            outcome = await self._stopped(ctx, reason)
        except TimeoutError:
            outcome = "failed"
            await self._fail(ctx, f"TimeoutError: attempt timed out after {timeout:g} s", final=False)
        except Exception as exc:
            outcome = "failed"
            await self._fail(ctx, format_error(exc), final=isinstance(exc, UnknownJobType))
        finally:
            duration = time.perf_counter() - started
            self.state.running.pop(ctx.id, None)
            self.metrics.child(self.metrics.job_duration, ctx.type, outcome).observe(duration)
            self.metrics.child(self.metrics.jobs_processed, ctx.type, outcome).inc()
            self._slot_freed.set()
            level = logging.INFO if outcome == "completed" else logging.WARNING
            if log.isEnabledFor(level):
                log.log(level, "job %s", outcome, extra={"job_id": ctx.id, "type": ctx.type, "attempt": ctx.attempt,
                                                         "duration_ms": round(duration * 1000, 2)})

    async def _stopped(self, ctx: JobContext, reason: str) -> str:
        """A handler we stopped: record a cancellation; lost leases and shutdown give-backs write nothing here."""
        if reason == "cancel":
            await self._write_fenced("job_cancel_if_leased", ctx, {"error": "cancelled by request"})
            return "cancelled"
        return reason

    async def _fail(self, ctx: JobContext, error: str, *, final: bool) -> None:
        delay = retry_delay(ctx.attempt, self.settings.retry_backoff_seconds)
        await self._write_fenced("job_fail_if_leased", ctx, {"error": error, "final": final,
                                                            "retry_at_seconds": delay})

    async def _write_fenced(self, name: str, ctx: JobContext, params: dict[str, Any]) -> None:
        """A write guarded by our lease, retried through database outages while the lease may hold."""
        failures = 0
        while True:
            try:
                async with db.translate_errors_async(), self.pool.connection() as conn:
                    cur = await conn.execute(query(name), {**params, "id": ctx.id, "attempts": ctx.attempt,
                                                           "worker_id": self.worker_id})
                    if await cur.fetchone() is None:
                        raise LeaseLost(f"job {ctx.id} attempt {ctx.attempt} is no longer ours")
                return
            except LeaseLost as exc:
                log.warning("%s not recorded: %s", name, exc, extra={"job_id": ctx.id, "attempt": ctx.attempt})
                return
            except DatabaseUnavailable as exc:
                failures += 1
                self.metrics.database_errors.labels(operation=name).inc()
                await asyncio.sleep(min(5.0, 0.05 * 2 ** min(failures, 7)))
                log.warning("retrying %s after a database error: %s", name, exc, extra={"job_id": ctx.id})

    def _stop_job(self, job_id: str, reason: str) -> None:
        running = self.state.running.get(job_id)
        if running is None or running.stop_reason is not None:
            return
        running.stop_reason = reason
        if reason == "cancel":
            running.ctx.cancel_requested.set()
        running.task.cancel()

    # -- side services ----------------------------------------------------------------------------------

    async def heartbeat_once(self) -> None:
        held = self.state.held()
        try:
            answer = await extend_leases(self.pool, self.worker_id, held, self.lease)
        except DatabaseUnavailable as exc:
            self.metrics.database_errors.labels(operation="heartbeat").inc()
            log.warning("heartbeat failed (%s); leases last %.0f s from the last success", exc, self.lease)
            return
        for job_id, _attempts in held:
            if job_id not in answer:
                if job_id in self.state.running:
                    log.warning("lease lost; stopping the handler", extra={"job_id": job_id})
                    self._stop_job(job_id, "lease_lost")
            elif answer[job_id]:
                self._stop_job(job_id, "cancel")

    async def _heartbeat_loop(self) -> None:
        interval = self.lease / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_now.wait(), interval)
            self._heartbeat_now.clear()
            await self.heartbeat_once()

    async def _reaper_loop(self) -> None:
        interval = min(self.settings.poll_interval_seconds, self.lease / 3)
        last_prune = 0.0
        while not self.stopping:
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
            try:
                rescued = await rescue_expired(self.pool)
                self.metrics.rescued.inc(len(rescued))
                if any(r["status"] == "QUEUED" for r in rescued):
                    self._on_queued("poll")
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = time.monotonic()
                    await prune_finished(self.pool, self.settings.job_retention_days * 86400)
                    await prune_waiting(self.pool, max(WAITING_ROW_STALE_SECONDS,
                                                       3 * self.settings.poll_interval_seconds))
            except DatabaseUnavailable as exc:
                self.metrics.database_errors.labels(operation="reaper").inc()
                log.debug("reaper skipped a round: %s", exc)

    # -- shutdown ---------------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        tasks = [r.task for r in self.state.running.values()]
        if tasks:
            log.info("waiting up to %.1f s for %d job(s) to finish", grace, len(tasks))
            await asyncio.wait(tasks, timeout=grace)
        leftover = list(self.state.running.values())
        for running in leftover:
            self._stop_job(running.ctx.id, "shutdown")
        if leftover:
            await asyncio.wait([r.task for r in leftover], timeout=1.0)
            await self._give_back([(r.ctx.id, r.attempts) for r in leftover])
        try:
            await asyncio.wait_for(self.completer.drained(), 2.0)
        except TimeoutError:
            log.warning("some completions were not recorded before exit; their leases will expire")
        for task in self._side_tasks:
            task.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        with contextlib.suppress(DatabaseUnavailable, TimeoutError):
            await asyncio.wait_for(self._mark_busy(), 1.0)
        await self._release_claim_connection()
        await self.pool.close(timeout=2.0)
        log.info("worker %s stopped", self.worker_id)

    async def _give_back(self, held: list[tuple[str, int]]) -> None:
        from psycopg.types.json import Jsonb

        payload = Jsonb([{"id": job_id, "attempts": attempts} for job_id, attempts in held])
        try:
            async with db.translate_errors_async(), self.pool.connection(timeout=2.0) as conn:
                cur = await conn.execute(query("job_give_back_if_leased"),
                                         {"held": payload, "worker_id": self.worker_id})
                given = len(await cur.fetchall())
            log.info("gave %d unfinished job(s) back to the queue", given)
        except (DatabaseUnavailable, TimeoutError, *db.TRANSIENT_ERRORS) as exc:
            log.warning("could not give jobs back (%s); their leases will expire and they will be rescued", exc)


def retry_delay(attempt: int, base_seconds: float) -> float:
    """Exponential backoff with ±25 % jitter, so that failed jobs do not come back in lockstep."""
    return min(RETRY_BACKOFF_CAP_SECONDS, base_seconds * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)


def format_error(exc: BaseException) -> str:
    """Type, message and the last frames of the traceback, trimmed to fit the error column."""
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8)
    text = f"{type(exc).__name__}: {exc}\n" + "".join(frames[1:-1])
    return text[:ERROR_MAX_CHARS]
