"""Runs one claimed job's handler and maps how it ended to the queue write that records it.

| the handler…                          | outcome     | write                                            |
|---------------------------------------|-------------|--------------------------------------------------|
| returned a storable result            | completed   | handed to the completer (batched, fenced)        |
| returned a result jsonb cannot hold   | failed      | ``fail``: ``ResultNotStorable``, final           |
| raised anything (``SystemExit`` too)  | failed      | ``fail``, retried with backoff while attempts remain |
| ran past the job's ``timeout_seconds``| failed      | ``fail``: "attempt timed out after N s"           |
| was stopped: cancel requested         | cancelled   | ``confirm_cancel``                               |
| was stopped: lease lost               | lease_lost  | ``fail`` (an attempt that counts), if still ours |
| was stopped: shutdown                 | shutdown    | none here: shutdown gives every such job back    |

A handler's exception never escapes: whatever it raises becomes that attempt's error. Fenced writes are
retried through database outages while the lease may still hold, and no longer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from common import backoff
from common.config import Settings
from common.errors import DatabaseUnavailable, LeaseLost, QueueError
from common.metrics import Metrics
from common.queue import QueueStore
from common.queue_types import AttemptError, Finished, Lease, encode_result
from worker.completer import Completer
from worker.registry import Handler
from worker.state import Running, WorkerState

log = logging.getLogger(__name__)


class AttemptTimedOut(Exception):
    """The attempt ran longer than its job's ``timeout_seconds``."""


class Executor:
    def __init__(self, store: QueueStore, handlers: dict[str, Handler], state: WorkerState, completer: Completer,
                 settings: Settings, metrics: Metrics, *, on_done: Callable[[], None]) -> None:
        self.store = store
        self.handlers = handlers
        self.state = state
        self.completer = completer
        self.settings = settings
        self.metrics = metrics
        self.on_done = on_done  # a slot is free

    async def execute(self, running: Running) -> str:
        """Run the job to its end and record it; returns the outcome (see the table above)."""
        job, started = running.job, time.perf_counter()
        outcome = "failed"
        try:
            outcome = await self._run_and_record(running)
        except asyncio.CancelledError:
            if running.stop_reason is None:
                raise  # not ours: the worker itself is being torn down
            outcome = await self._stopped(running)
        except Exception:  # a bug of ours must not stop the worker; the lease will bring the job back
            log.exception("recording the outcome failed", extra={"job_id": job.id, "attempt": job.attempts})
        finally:
            duration = time.perf_counter() - started
            self.state.running.pop(job.id, None)
            self.metrics.child(self.metrics.job_duration, job.type, outcome).observe(duration)
            self.metrics.child(self.metrics.jobs_processed, job.type, outcome).inc()
            self.on_done()
            level = logging.INFO if outcome == "completed" else logging.WARNING
            if log.isEnabledFor(level):
                log.log(level, "job %s", outcome, extra={"job_id": job.id, "type": job.type,
                                                         "attempt": job.attempts,
                                                         "duration_ms": round(duration * 1000, 2)})
        return outcome

    async def _run_and_record(self, running: Running) -> str:
        job = running.job
        handler = self.handlers.get(job.type)
        if handler is None:  # claims name our types, so only a handler table changed under us gets here
            return await self._fail(running, AttemptError("UnknownJobType", f"no handler for {job.type!r}"),
                                    final=True)
        try:
            if job.timeout_seconds:
                scope = asyncio.timeout(job.timeout_seconds)
                try:
                    async with scope:
                        value = await handler(running.ctx)
                except TimeoutError:
                    if scope.expired():  # ours; a TimeoutError the handler raised itself is its error
                        raise AttemptTimedOut(f"attempt timed out after {job.timeout_seconds:g} s") from None
                    raise
            else:
                value = await handler(running.ctx)
        except AttemptTimedOut as exc:
            running.recording = True
            return await self._fail(running, AttemptError("TimeoutError", str(exc)), final=False)
        except asyncio.CancelledError:
            raise  # a stop request (see execute) or the worker being torn down
        except BaseException as exc:  # the handler's error, TimeoutError of its own included
            # SystemExit, KeyboardInterrupt and GeneratorExit too: raised by a handler (sys.exit() in a library)
            # they would end the worker, whose shutdown gives the job back with the attempt uncounted, so each
            # worker that claims it next would die as well. Signals reach the worker through its own handlers,
            # never as an exception inside a job's task.
            running.recording = True
            return await self._fail(running, AttemptError.from_exception(exc), final=False)
        running.recording = True  # from here on a stop request no longer interrupts us
        if running.stop_reason is not None:  # it saw the stop request and returned instead of raising
            return await self._stopped(running)
        try:
            result_json = encode_result(value)
        except Exception as exc:  # ResultNotStorable: retrying would return the same thing
            return await self._fail(running, AttemptError.from_exception(exc), final=True)
        self.state.unrecorded[job.id] = job.attempts
        self.completer.submit(Finished(job.id, job.attempts, result_json))
        return "completed"

    async def _stopped(self, running: Running) -> str:
        reason = running.stop_reason
        if reason == "cancel":
            await self._write(running.job.lease, "confirm_cancel",
                              lambda: self.store.confirm_cancel(running.job.lease, "cancelled by request"))
            return "cancelled"
        if reason == "lease_lost":
            error = AttemptError("LeaseLost", "stopped: the heartbeat could not renew the lease in time "
                                 "(database unreachable or too slow); another worker may run it now")
            await self._write(running.job.lease, "fail", lambda: self.store.fail(
                running.job.lease, error, final=False,
                retry_in=backoff.retry_delay(running.job.attempts, self.settings.retry_backoff_seconds)))
            return "lease_lost"
        return str(reason)  # shutdown: given back by the shutdown path

    async def _fail(self, running: Running, error: AttemptError, *, final: bool) -> str:
        job = running.job
        delay = backoff.retry_delay(job.attempts, self.settings.retry_backoff_seconds)
        await self._write(job.lease, "fail", lambda: self.store.fail(job.lease, error, final=final, retry_in=delay))
        return "failed"

    async def fail_unstorable(self, finished: Finished, error: AttemptError) -> None:
        """The completer could not store this result: fail the attempt for good with the reason."""
        await self._write(finished.lease, "fail",
                          lambda: self.store.fail(finished.lease, error, final=True, retry_in=0.0))

    async def _write(self, lease: Lease, name: str, write: Callable[[], Awaitable[object]]) -> None:
        """A fenced write, retried through outages for as long as our lease could still hold."""
        deadline = time.monotonic() + self.settings.job_lease_seconds
        failures = 0
        while True:
            try:
                await write()
                return
            except LeaseLost as exc:
                log.warning("%s not recorded: %s", name, exc, extra={"job_id": lease.id, "attempt": lease.attempts})
                return
            except (DatabaseUnavailable, QueueError) as exc:
                failures += 1
                self.metrics.database_errors.labels(operation=name).inc()
                if isinstance(exc, QueueError) or time.monotonic() > deadline:
                    log.error("%s not recorded (%s); the lease will expire and the job be rescued", name, exc,
                              extra={"job_id": lease.id, "attempt": lease.attempts})
                    return
                log.warning("retrying %s after a database error: %s", name, exc, extra={"job_id": lease.id})
                await asyncio.sleep(backoff.reconnect_delay(failures, cap=2.0))
