"""The worker: its claim loop, the wait between claims, its supervised services, and shutdown.

The loop is ``run_once()`` (claim up to the free slots of the types we have handlers for, start a task
per job; the completer records what finished, in parallel) plus a thin wait on the first of: a NOTIFY on
``jobs_queued``, the poll tick (with jitter), the next delayed job coming due, a slot freeing up, or the
stop signal. It never claims more jobs than it has free slots. Slots come in two classes:
``WORKER_CONCURRENCY`` for renders and every other type, ``WORKER_LIGHT_CONCURRENCY`` for the light types
(PING), claimed by the same statement, so that a burst of cheap jobs is taken many at a time and never
waits behind renders. The rest lives in one module each, like River's producer and its services:
``executor`` runs one job and records how it ended, ``completer`` batches completions (on its own
connection), ``heartbeat`` keeps leases (on its own connection) and stops handlers whose lease it lost,
``reaper`` rescues and prunes, ``common.listener`` hears NOTIFYs, ``common.queue`` is
every statement. Services run as supervised tasks: one that crashes is logged and restarted, never
silently lost.

Shutdown fits Cloud Run's 10 s: ``SHUTDOWN_GRACE_SECONDS`` (8) for handlers to finish, then at most
``SHUTDOWN_TAIL_SECONDS`` (1.2) for everything else, each step cut to what is left (docs/jobs.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from common import backoff
from common.config import Settings, listen_url
from common.listener import Listener, State
from common.metrics import Metrics
from common.queue import QueueStore
from common.queue_types import AttemptError, ClaimedJob, Finished
from common.quotas import Quotas
from common.reports import pdf, sandbox
from common.timeouts import cancel_in_statement
from worker.completer import Completer
from worker.context import JobContext
from worker.executor import Executor
from worker.heartbeat import Heartbeat
from worker.reaper import Reaper
from worker.registry import Handler
from worker.scheduler import Scheduler
from worker.state import Running, WorkerState

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.025  # a second look after going idle, for inserts that were committing meanwhile
DEAF_POLL_SECONDS = 1.0  # the poll when LISTEN hears nothing (a transaction pooler)
SHUTDOWN_TAIL_SECONDS = 1.2  # after the grace: stop handlers, write completions, give back, close
REPORT_TYPES = frozenset({"START_RUN", "EXPORT"})  # limited by REPORT_SLOTS


def new_worker_id(configured: str | None = None) -> str:
    """``WORKER_ID`` (or the host name) plus a random part: two instances never share an id, even when
    they share a ``WORKER_ID``, so that one's fenced writes can never match the other's leases."""
    return f"{configured or socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = max(0.0, self.at - time.monotonic())
        return left if cap is None else min(cap, left)


class Worker:
    def __init__(self, settings: Settings, database_url: str, handlers: dict[str, Handler],
                 metrics: Metrics | None = None, *, light_types: frozenset[str] = frozenset()) -> None:
        self.settings = settings
        self.url = database_url
        self.handlers = handlers
        self.metrics = metrics or Metrics()
        self.worker_id = new_worker_id(settings.worker_id)
        self.concurrency = settings.worker_concurrency
        self.light_types = frozenset(light_types) & set(handlers)
        self.light_concurrency = settings.worker_light_concurrency if self.light_types else 0
        # Renders and exports (seconds of a child process each, up to PDF_MEMORY_MB) take at most
        # REPORT_SLOTS of the WORKER_CONCURRENCY slots, so that a few huge reports cannot starve every other job.
        self.report_slots = min(settings.report_slots, self.concurrency)
        self._other_types = sorted(t for t in handlers if t not in REPORT_TYPES and t not in self.light_types)
        self._reports_held_back = False
        self.lease = settings.job_lease_seconds
        self.state = WorkerState()
        self.metrics.in_flight.set_function(lambda: len(self.state.running))
        self.store = QueueStore(database_url, self.worker_id, sorted(handlers),
                                pool_size=3 + min(self.concurrency, 8), light_types=sorted(self.light_types))
        self.pool = self.store.pool  # handlers' tables (ctx.pool), health checks
        self.completer = Completer(self.store, on_written=self._on_completion_written,
                                   on_unstorable=self._on_unstorable)
        self.executor = Executor(self.store, handlers, self.state, self.completer, settings, self.metrics,
                                 on_done=self._on_slot_freed)
        self.heartbeat = Heartbeat(self.store, self.state, self.metrics, lease_seconds=self.lease)
        self.scheduler = Scheduler(self.pool, self.metrics, quotas=Quotas.of(settings))
        self.reaper = Reaper(self.store, settings, self.metrics, on_requeued=lambda: self._on_queued("poll"))
        self.listener = Listener(listen_url(settings, database_url),
                                 {"jobs_queued": lambda _: self._on_queued("notify"), "jobs_cancel": self._on_cancel},
                                 name="report-generator-listener", on_state=self._on_listener_state,
                                 on_up=lambda: self._on_queued("reconnect"))
        self._wake = asyncio.Event()
        self._wake_source = "poll"
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._side_tasks: list[asyncio.Task[None]] = []
        self._marked_waiting = False
        self._wait_until = 0.0  # monotonic: when the wait computed by the last mark_waiting ends
        self._notified = False  # a NOTIFY (or poll wake-up) since the last look
        self._more: set[str] = set()  # slot classes whose last claim filled every free slot: more may wait
        self._dry = False  # the last claim found fewer due jobs than some class had free slots
        # Wall-clock times of the last NOTIFY heard and the last wake-up the loop resumed from, for the
        # pickup trace (PING {"trace": true}): they split the wake phase (bench/pickup_trace.py).
        self._heard_wall = 0.0
        self._resumed_wall = 0.0

    # -- wiring -----------------------------------------------------------------------------------------

    def _on_queued(self, source: str) -> None:
        if source == "notify":
            self._heard_wall = time.time()
        self._wake_source = "notify" if source == "notify" else "poll"
        self._notified = True
        self._wake.set()

    def _on_cancel(self, job_id: str) -> None:
        if job_id in self.state.running:
            self.heartbeat.now.set()

    def _on_listener_state(self, state: State) -> None:
        self.metrics.listener_up.set(1 if state is State.UP else 0)
        if state is State.UP:  # back from an outage: renew our leases before anyone's reaper sees them expire
            self.heartbeat.now.set()
            self.completer.retry_now()
        elif state is State.DEAF:
            self._wake.set()  # re-arm the wait with the short poll
        log.info("listener %s", state.value, extra={"worker_id": self.worker_id})

    def _on_completion_written(self, finished: Finished, still_leased: bool) -> None:
        self.state.unrecorded.pop(finished.id, None)
        if not still_leased:
            log.warning("completion not recorded: the job's lease was lost to another attempt",
                        extra={"job_id": finished.id, "attempt": finished.attempts})

    async def _on_unstorable(self, finished: Finished, error: AttemptError) -> None:
        await self.executor.fail_unstorable(finished, error)
        self.state.unrecorded.pop(finished.id, None)

    def _on_slot_freed(self) -> None:
        self._slot_freed.set()
        if self._more or self._reports_held_back:  # a full class (or the report slots) may have room now
            self._wake.set()

    def _claim_plan(self, limit: int) -> tuple[list[str] | None, int]:
        """Which slot-class types to claim (None: all) and how many, within the free and the report slots."""
        reports = sum(1 for r in self.state.running.values() if r.job.type in REPORT_TYPES)
        report_free = self.report_slots - reports
        self._reports_held_back = report_free <= 0
        if report_free >= limit:
            return None, limit
        if report_free <= 0:
            return self._other_types, limit if self._other_types else 0
        return None, report_free  # a claim of any type that cannot overfill the report slots

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def poll_seconds(self) -> float:
        poll = self.settings.poll_interval_seconds
        return min(poll, DEAF_POLL_SECONDS) if self.listener.state is State.DEAF else poll

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
        renders = "START_RUN" in self.handlers and self.settings.render_pool_size > 0
        exports = "EXPORT" in self.handlers and self.settings.pdf_pool_size > 0
        # Warm render and PDF processes, started (limits applied) before any job can reach them.
        if renders:
            sandbox.open_render_pool(self.settings.render_pool_size,
                                     sandbox.limits_for(self.settings.render_memory_mb))
        if exports:
            pdf.open_pdf_pool(self.settings.pdf_pool_size, pdf.limits_for(self.settings))
        try:
            await self._run()
        finally:
            if renders:
                await asyncio.to_thread(sandbox.close_render_pool)  # kills and reaps the waiting ones
            if exports:
                await asyncio.to_thread(pdf.close_pdf_pool)

    async def _run(self) -> None:
        await self.store.open()
        self._side_tasks = [self._supervise("listener", self.listener.run),
                            self._supervise("completer", self.completer.run),
                            self._supervise("heartbeat", self.heartbeat.run),
                            self._supervise("reaper", self.reaper.run)]
        if self.settings.scheduler_enabled and "START_RUN" in self.handlers:
            self._side_tasks.append(self._supervise("scheduler", self.scheduler.run))
        log.info("worker %s started: concurrency %d (+%d for %s), poll every %.1f s, lease %.0f s, handlers %s",
                 self.worker_id, self.concurrency, self.light_concurrency, ", ".join(sorted(self.light_types)) or "-",
                 self.settings.poll_interval_seconds, self.lease, ", ".join(sorted(self.handlers)))
        loop = asyncio.create_task(self._loop(), name="worker-claim-loop")
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({loop, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            # A claim in flight may be lost: shutdown gives back every job locked by us. Cancelled twice
            # (the claim's statements run in this task, common.timeouts.within): on a black-holed network
            # the driver's server-side cancel would otherwise hold the shutdown for 5-10 s.
            await cancel_in_statement(loop)
            await asyncio.gather(loop, stop, return_exceptions=True)
            await self._shutdown()

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
            free = self._free()
            if free[0] <= 0 and free[1] <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wake.clear()
            try:
                await self.run_once(free)
                failures = 0
                if not self._dry:  # the queue may hold more: claim again as soon as there is room
                    await self._mark_busy()
                    continue
                if self._more:  # one class is full with more queued, another has room and nothing due
                    await self._wait_partial()
                    continue
                log.debug("No jobs found")
                await self._wait_for_work()
            except Exception as exc:  # unreachable, refused, or a bug: never let the loop die
                failures += 1
                self.metrics.database_errors.labels(operation="claim").inc()
                delay = backoff.reconnect_delay(failures)
                log.warning("cannot claim jobs (%s); retrying in %.2f s", exc, delay)
                await self._sleep(delay)

    def _free(self) -> tuple[int, int]:
        """Free slots: (``WORKER_CONCURRENCY`` class, light class)."""
        running = self.state.running
        if not self.light_types:
            return self.concurrency - len(running), 0
        light = sum(1 for r in running.values() if r.job.type in self.light_types)
        return self.concurrency - (len(running) - light), self.light_concurrency - light

    async def _wait_partial(self) -> None:
        """Some slots are full with more jobs queued for them, the others have room and nothing due: wait
        for one of the full ones to free up (``_on_slot_freed`` wakes us) or a NOTIFY for the idle ones,
        marked waiting. Marking (and the second look that closes its race) happens once per poll interval
        or NOTIFY, not once per claim: a drain of light jobs costs one statement per claim."""
        if not self._marked_waiting or self._notified or time.monotonic() >= self._wait_until:
            self._notified = False
            # The next due job of the classes with room: the full class's backlog is due already.
            idle = self.store.slot_types if "slots" not in self._more else self.store.light_types
            await self._mark_waiting(idle)
            if await self.run_once():
                return
        await self._sleep(max(0.0, self._wait_until - time.monotonic()))

    async def _wait_for_work(self) -> None:
        """Sleep until a NOTIFY, the poll tick or the next due job, having told inserters to wake us.

        A commit that read "nobody waits" just before we marked ourselves waiting sends no NOTIFY, and
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
        """Wait for a wake-up or the timeout; True when woken. (``asyncio.timeout``, not ``wait_for``: no
        extra task, so the loop resumes one turn of the event loop sooner after a wake-up.)"""
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
            self._resumed_wall = time.time()
            return True
        except TimeoutError:
            return False

    async def _mark_waiting(self, types: list[str] | None = None) -> float:
        """Ask inserts to NOTIFY us; returns how long to sleep (the poll, or until the next due job, of
        ``types`` when given)."""
        poll = self.poll_seconds * random.uniform(0.9, 1.0)
        seconds = await self.store.mark_waiting(types)
        self._marked_waiting = True
        timeout = poll if seconds is None else max(0.05, min(poll, seconds))
        self._wait_until = time.monotonic() + timeout
        return timeout

    async def _mark_busy(self) -> None:
        """Saturated: inserts need not NOTIFY us (we claim again whenever a slot frees)."""
        if self._marked_waiting:
            await self.store.mark_busy()
            self._marked_waiting = False

    async def run_once(self, free: tuple[int, int] | None = None) -> int:
        """Claim up to the free slots of each class (default: as free now) and start them; returns how
        many were claimed."""
        slots, light = self._free() if free is None else free
        slots, light = max(0, slots), max(0, light)
        types, slots = self._claim_plan(slots)
        if slots == 0 and light == 0:
            return 0
        # Claims only: finished jobs are the completer's to write, on its own connection, while this claim
        # runs (two statements in parallel, on two backends, beat one carrying both: docs/benchmarks.md,
        # 2026-12-04, one-process drain 1.29x).
        self.state.claim_seq += 1
        self.state.claims_in_flight += 1
        sent = self.state.now()
        sent_wall = time.time()
        try:
            claimed = await self.store.claim(slots, self.lease, types=types,
                                             light_limit=light if self.light_types else None)
        finally:
            self.state.claims_in_flight -= 1
        seen_wall = time.time()
        got_light = 0
        for job in claimed:
            got_light += job.type in self.light_types
            self._start(job, sent, sent_wall, seen_wall)
        self._dry = False
        for cls, asked, got in (("slots", slots, len(claimed) - got_light), ("light", light, got_light)):
            if asked == 0:
                continue  # no news about this class
            if got >= asked:
                self._more.add(cls)
            else:
                self._more.discard(cls)
                self._dry = True
        return len(claimed)

    def _start(self, job: ClaimedJob, claimed_at: float, sent_wall: float = 0.0, seen_wall: float = 0.0) -> None:
        ctx = JobContext(id=job.id, workspace_id=job.workspace_id, type=job.type, payload=job.payload,
                         attempt=job.attempts, max_attempts=job.max_attempts, created_at=job.created_at,
                         settings=self.settings, database_url=self.url, pool=self.pool, metrics=self.metrics)
        if isinstance(job.payload, dict) and job.payload.get("trace") is True:  # bench/pickup_trace.py
            ctx.trace.update(notify_heard=self._heard_wall, loop_resumed=self._resumed_wall,
                             claim_now=job.started_at.timestamp(), claim_sent=sent_wall, claim_seen=seen_wall,
                             dispatched=time.time())
        waited_from = max(job.created_at, job.run_at)
        self.metrics.child(self.metrics.job_wait, job.type).observe(
            max(0.0, (job.started_at - waited_from).total_seconds()))
        running = Running(job=job, ctx=ctx, renewed_at=claimed_at)
        self.state.running[job.id] = running
        running.task = asyncio.create_task(self.executor.execute(running), name=f"job-{job.id}")

    # -- shutdown ---------------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        deadline = Deadline(grace + SHUTDOWN_TAIL_SECONDS)
        tasks = [r.task for r in self.state.running.values() if r.task is not None]
        if tasks:
            log.info("waiting up to %.1f s for %d job(s) to finish", grace, len(tasks))
            await asyncio.wait(tasks, timeout=grace)
        leftover = list(self.state.running.values())
        for running in leftover:
            self.state.stop(running.job.id, "shutdown")
        if leftover:
            await asyncio.wait([r.task for r in leftover if r.task is not None], timeout=deadline.left(0.3))
        try:
            await asyncio.wait_for(self.completer.drained(), deadline.left(0.3))
        except TimeoutError:
            log.warning("some completions were not recorded before exit; those jobs are given back")
        for task in self._side_tasks:
            task.cancel()
        try:
            given = await self.store.give_back_all([], timeout=max(0.05, deadline.left(0.3)))
            if given:
                log.info("gave %d unfinished job(s) back to the queue", given)
            await self.store.unregister(timeout=max(0.05, deadline.left(0.15)))
        except Exception as exc:
            log.warning("could not give jobs back (%s); their leases will expire and they will be rescued", exc)
        await asyncio.wait(self._side_tasks, timeout=max(0.01, deadline.left(0.1)))
        await self.store.close(timeout=max(0.05, deadline.left(0.15)))
        log.info("worker %s stopped", self.worker_id)

