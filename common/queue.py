"""The queue boundary: every write the worker makes to the jobs table, as a typed method.

Methods take and return the frozen types of ``common.queue_types``; driver errors never leave this
module (an unreachable database becomes ``DatabaseUnavailable``, anything else ``QueueError``), so
``worker/`` never names psycopg. Three kinds of connection, so that no kind can starve another:

- the **claim** connection, the claim loop's own (it stays checked out: a pool round per claim costs
  time on the pickup path);
- the **heartbeat** connection, its own too: handlers that exhaust the pool, or a pool whose connections
  hang, must not stop leases from being renewed (issue 10: a worker whose renewals failed kept running a
  job that another worker had rescued);
- the **pool**, shared with handlers (``ctx.pool``), for completions, failures, rescue and pruning.

Every statement has a time limit: on a black-holed network a query would otherwise wait for TCP
keepalives (about 30 s) while the lease runs out.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from common import db
from common.errors import DatabaseUnavailable, LeaseLost, QueueError
from common.queue_types import (
    AttemptError,
    ClaimedJob,
    Finished,
    Lease,
    Pruned,
    Renewal,
    Rescued,
    batch_json,
    leases_json,
)
from common.sql import query
from common.timeouts import bounded, within

log = logging.getLogger(__name__)
STATEMENT_TIMEOUT_SECONDS = 10.0
T = TypeVar("T")
PRUNE_BATCH = 5000
PRUNE_BUDGET_SECONDS = 5.0  # one prune round; a round that ends behind is followed by the next at once


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def _translated(what: str, timeout: float, coro: Coroutine[Any, Any, T], *, inline: bool = False) -> T:
    """Run one database operation within ``timeout`` (even on a black-holed network), with driver
    errors translated; ``inline``: in the calling task (``common.timeouts.within``), for the claim loop."""
    try:
        return await (within(coro, timeout) if inline else bounded(coro, timeout))
    except TimeoutError:
        raise DatabaseUnavailable(f"{what}: no answer within {timeout:g} s") from None
    except db.TRANSIENT_ERRORS as exc:
        raise DatabaseUnavailable(f"{what}: {_one_line(exc)}") from exc
    except psycopg.Error as exc:
        raise QueueError(f"{what}: {type(exc).__name__}: {_one_line(exc)}") from exc


class DedicatedConnection:
    """One connection, opened on first use and replaced after any failure (or a time-out, which leaves
    the protocol mid-statement).

    Every dedicated connection reads jobs through an index only (``enable_seqscan = off``; "off" only
    forbids a sequential scan where another path exists, and every statement on them has one). A
    session keeps its plans until the next ANALYZE of jobs, its foreign-key checks' plans too, and plans
    made while the table was a page or two (a new deployment; autovacuum's first ANALYZE comes seconds in)
    read the whole table as it grew by 1,000 rows a second: the claim's and the completion's ``UPDATE ...
    WHERE id = ANY(...)`` and each completed job's check of its ``job_attempts`` row, until the next
    ANALYZE (pickup p50 5 -> 34 ms over the soak's first two minutes; docs/benchmarks.md, 2026-12-08).

    ``generic_plans``: the session also plans each prepared statement once (``plan_cache_mode =
    force_generic_plan``) and never JIT-compiles (``jit = off``). For the claim and the completions:
    their generic plans are the ones we test (tests/integration/test_query_plans.py), and PostgreSQL's
    own choice was to plan the claim afresh on every run (its generic plan expects ten job types and
    unknown limits, so it looks dearer than a plan for the actual three types and four slots): 0.7 ms of
    planning in each 1.4 ms claim at an idle queue, 0.58 ms with the plan kept. The same estimate (149,000
    at 200,000 jobs) is above jit_above_cost, and a JIT compile takes longer than the claim.

    No session settings through a transaction pooler: nothing is prepared there (each statement is
    planned with its values, from the table's size now, below the JIT threshold), and a session setting
    would reach whichever client gets the server connection next."""

    def __init__(self, url: str, name: str, *, generic_plans: bool = False) -> None:
        self.url = url
        self.name = name
        pooled = db.is_transaction_pooler(url)
        self.settings = [] if pooled else ["SET enable_seqscan = off"]
        if generic_plans and not pooled:
            self.settings += ["SET plan_cache_mode = force_generic_plan", "SET jit = off"]
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            if self._conn is None or self._conn.closed:
                conn = await db.connect_async(self.url, application_name=self.name)
                self._conn = conn
                if self.settings:
                    await conn.execute("; ".join(self.settings))  # type: ignore[arg-type]
            yield self._conn
        except BaseException:
            await self.discard()
            raise

    async def discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await bounded(conn.close(), 0.2)


class QueueStore:
    """The worker's queue operations for one worker id and the job types it handles."""

    def __init__(self, url: str, worker_id: str, types: Sequence[str], *, pool_size: int,
                 light_types: Sequence[str] = ()) -> None:
        self.worker_id = worker_id
        self.types = sorted(types)
        # Claimed against their own slot count (``light_limit``); the rest against ``limit``.
        self.light_types = sorted(set(light_types) & set(types))
        self.slot_types = sorted(set(types) - set(light_types))
        self.pool: AsyncConnectionPool = db.make_pool(url, min_size=2, max_size=pool_size,
                                                      name="report-generator-worker", check=False,
                                                      wait_seconds=2.0)
        self._claim = DedicatedConnection(url, "report-generator-worker-claim", generic_plans=True)
        # The completer's own: completions never wait for a pool connection that handlers hold (a
        # DELIVER fetching its PDF, say), and it is used by the completer's one task alone.
        self._record = DedicatedConnection(url, "report-generator-worker-complete", generic_plans=True)
        self._beat = DedicatedConnection(url, "report-generator-worker-heartbeat")

    async def open(self) -> None:
        """Open the pool without waiting for the database: a worker may start before it is up."""
        await self.pool.open(wait=False)

    async def close(self, timeout: float) -> None:
        await self._claim.discard()
        await self._record.discard()
        await self._beat.discard()
        with contextlib.suppress(Exception):
            await bounded(self.pool.close(timeout=timeout), timeout + 0.05)

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "types": self.types, **extra}

    async def _run(self, name: str, params: dict[str, Any], *, on: DedicatedConnection | None = None,
                   timeout: float = STATEMENT_TIMEOUT_SECONDS) -> list[dict[str, Any]]:
        async def execute() -> list[dict[str, Any]]:
            if on is not None:
                async with on.use() as conn:
                    cur = await conn.execute(query(name), params)
                    return await cur.fetchall() if cur.description else []
            async with self.pool.connection() as conn:
                cur = await conn.execute(query(name), params)
                return await cur.fetchall() if cur.description else []  # type: ignore[return-value]

        # The claim connection is only ever used by the claim loop's own task: no task of its own for the
        # time limit there (two turns of the event loop less on the pickup path).
        return await _translated(name, timeout, execute(), inline=on is self._claim)

    # -- the claim loop ---------------------------------------------------------------------------------

    async def claim(self, limit: int, lease_seconds: float, *, light_limit: int | None = None,
                    types: Sequence[str] | None = None) -> tuple[ClaimedJob, ...]:
        """Claim up to ``limit`` due jobs of our slot types (or of ``types``, a subset: the worker leaves
        out report jobs while its report slots are full) and up to ``light_limit`` of our light types
        (None: one ``limit`` for every type, light ones included), in claim order."""
        if light_limit is None:
            slot_types, light_types, light_limit = self.types, [], 0
        else:
            slot_types, light_types = self.slot_types, self.light_types
        if types is not None:
            slot_types = sorted(set(types) & set(slot_types))
        rows = await self._run("job_claim", {
            "worker_id": self.worker_id, "types": slot_types, "light_types": light_types,
            "light_limit": light_limit, "limit": limit, "lease_seconds": lease_seconds}, on=self._claim)
        return tuple(ClaimedJob.from_row(r) for r in rows)

    async def complete(self, done: list[Finished]) -> frozenset[str]:
        """Record completions (the completer's writes, on its own connection); returns the ids recorded,
        those still leased to us (the others lost their lease)."""
        if not done:
            return frozenset()
        rows = await self._run("job_complete", {"worker_id": self.worker_id, "done": batch_json(done)},
                               on=self._record)
        return frozenset(str(r["id"]) for r in rows)

    async def mark_waiting(self, types: Sequence[str] | None = None) -> float | None:
        """From now on inserts NOTIFY us; returns seconds until our next delayed job is due (or None), of
        ``types`` when given (the slot classes that have room), else of all our types."""
        params = self._params() if types is None else {**self._params(), "types": sorted(types)}
        rows = await self._run("worker_wait", params, on=self._claim)
        seconds = rows[0]["seconds"] if rows else None
        return None if seconds is None else float(seconds)

    async def mark_busy(self, timeout: float = STATEMENT_TIMEOUT_SECONDS) -> None:
        await self._run("worker_busy", self._params(), on=self._claim, timeout=timeout)

    # -- one attempt's end (fenced: zero rows raises LeaseLost) -------------------------------------------

    async def fail(self, lease: Lease, error: AttemptError, *, final: bool, retry_in: float) -> str:
        """The attempt failed: QUEUED after ``retry_in`` s while attempts remain, else FAILED (or
        CANCELLED when a cancel was requested meanwhile). Returns the new status."""
        rows = await self._run("job_fail_if_leased", self._params(
            id=lease.id, attempts=lease.attempts, error=error.text(), detail=error.as_json(), final=final,
            retry_at_seconds=retry_in))
        if not rows:
            raise LeaseLost(f"job {lease.id} attempt {lease.attempts} is no longer ours")
        return str(rows[0]["status"])

    async def confirm_cancel(self, lease: Lease, message: str) -> None:
        rows = await self._run("job_cancel_if_leased", self._params(id=lease.id, attempts=lease.attempts,
                                                                   error=message))
        if not rows:
            raise LeaseLost(f"job {lease.id} attempt {lease.attempts} is no longer ours")

    async def give_back(self, leases: list[Lease]) -> int:
        """Return these unstarted or unfinished attempts to the queue, not counted."""
        rows = await self._run("job_give_back_if_leased", self._params(
            all_mine=False, keep=[], held=leases_json(leases)))
        return len(rows)

    async def give_back_all(self, keep: list[str], timeout: float) -> int:
        """Shutdown: every job still locked by this worker except ``keep`` goes back to the queue."""
        rows = await self._run("job_give_back_if_leased", self._params(all_mine=True, keep=keep, held="[]"),
                               timeout=timeout)
        return len(rows)

    # -- heartbeat and housekeeping ---------------------------------------------------------------------

    async def renew(self, held: list[Lease], lease_seconds: float, timeout: float) -> Renewal:
        """Extend our leases and our registry row, on the heartbeat's own connection."""
        rows = await self._run("job_extend_leases", self._params(
            held=leases_json(held), lease_seconds=lease_seconds), on=self._beat, timeout=timeout)
        return Renewal(kept={str(r["id"]): bool(r["cancel_requested"]) for r in rows if r["kind"] == "kept"},
                       unknown=tuple(Lease(str(r["id"]), r["attempts"]) for r in rows if r["kind"] == "unknown"))

    async def unregister(self, timeout: float) -> None:
        await self._run("worker_unregister", self._params(), timeout=timeout)

    async def rescue_expired(self, limit: int, delays: list[float]) -> list[Rescued]:
        rows = await self._run("job_rescue_expired", {"limit": limit, "delays": delays})
        return [Rescued(str(r["id"]), r["status"], r["was_locked_by"]) for r in rows]

    async def prune_finished(self, retention_seconds: float, *,
                             budget_seconds: float = PRUNE_BUDGET_SECONDS) -> Pruned:
        """Delete old finished jobs (and their attempt history) a batch at a time, while batches come back
        full and the time budget lasts; ``behind`` when the budget ran out first (the caller comes back)."""
        return await self._prune_batches("job_prune_finished", retention_seconds, budget_seconds)

    async def prune_audit(self, retention_seconds: float, *,
                          budget_seconds: float = PRUNE_BUDGET_SECONDS) -> Pruned:
        """Delete audit events older than the retention period, in batches like ``prune_finished``."""
        return await self._prune_batches("audit_prune", retention_seconds, budget_seconds)

    async def _prune_batches(self, name: str, retention_seconds: float, budget_seconds: float) -> Pruned:
        deleted = 0
        started = time.monotonic()
        while True:
            async def batch() -> int:
                async with self.pool.connection() as conn:
                    cur = await conn.execute(query(name), {"retention_seconds": retention_seconds,
                                                           "limit": PRUNE_BATCH})
                    return cur.rowcount

            count = await _translated(name, STATEMENT_TIMEOUT_SECONDS, batch())
            deleted += count
            if count < PRUNE_BATCH:
                return Pruned(deleted, False, time.monotonic() - started)
            if time.monotonic() - started > budget_seconds:
                return Pruned(deleted, True, time.monotonic() - started)

    async def prune_workers(self, older_than_seconds: float) -> None:
        """Forget workers that died (waiting rows, registry rows)."""
        await self._run("worker_waiting_prune", {"older_than_seconds": older_than_seconds})
