"""Records finished attempts in batches.

A finished job is queued here and written by one ``job_complete_many_if_leased`` statement together with
whatever else finished meanwhile: at low load each job is written at once (the writer is idle), at high
load completions group themselves behind the write in flight, like a database's group commit. Until its
completion is written, a job stays in the worker's set of held leases, so the heartbeat keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from common import db
from common.errors import DatabaseUnavailable
from common.sql import query

log = logging.getLogger(__name__)
MAX_BATCH = 500


@dataclass(frozen=True)
class Finished:
    id: str
    attempts: int
    result: dict[str, Any]


class Completer:
    """Holds finished attempts until they are written, by its own task or riding along with a claim.

    When the queue is busy, the worker's next claim takes the pending completions (``take()``) and
    writes them in the claim's statement: one round trip, one commit, one WAL flush for both. What no claim takes
    (the queue ran dry, or the worker is at capacity with long jobs) this task writes by itself.
    """

    def __init__(self, pool: AsyncConnectionPool, worker_id: str, *,
                 on_written: Callable[[Finished, bool], None]) -> None:
        self.pool = pool
        self.worker_id = worker_id
        self.on_written = on_written  # (job, still_leased) once its fate is known
        self.pending: list[Finished] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0  # batches taken by a claim and not yet acknowledged
        self._retry_now = asyncio.Event()  # the database is back: stop backing off

    def submit(self, finished: Finished) -> None:
        self.pending.append(finished)
        self._idle.clear()
        self._wake.set()

    def retry_now(self) -> None:
        self._retry_now.set()

    def take(self) -> list[Finished]:
        """Hand the pending completions to a caller that writes them (see ``write`` and ``settle``)."""
        batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
        if batch:
            self._in_flight += 1
        return batch

    def settle(self, batch: list[Finished], written: set[str] | None) -> None:
        """The caller's transaction committed (``written``: ids still leased) or failed (None: retry)."""
        if not batch:
            return
        self._in_flight -= 1
        if written is None:
            self.pending[:0] = batch  # keep them; leases still protect the jobs meanwhile
            self._wake.set()
        else:
            for item in batch:
                self.on_written(item, item.id in written)
        self._update_idle()

    async def drained(self) -> None:
        """Wait until everything submitted so far is written (used at shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # let a claim that is about to run take these first
            while self.pending:
                batch = self.take()
                try:
                    async with db.translate_errors_async(), self.pool.connection() as conn:
                        written, _ = await self.write(conn, batch)
                    failures = 0
                except (DatabaseUnavailable, *db.TRANSIENT_ERRORS) as exc:
                    failures += 1
                    self.settle(batch, None)
                    delay = min(1.0, 0.05 * 2 ** min(failures, 5))
                    log.warning("could not record %d completion(s) (%s); retrying in %.2f s", len(batch),
                                str(exc)[:200], delay)
                    self._retry_now.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._retry_now.wait(), delay)
                    continue
                self.settle(batch, written)
            self._update_idle()

    async def write(self, conn: AsyncConnection, batch: list[Finished], *, claim: int = 0,
                    lease_seconds: float = 0.0) -> tuple[set[str], list[dict[str, Any]]]:
        """Record ``batch`` and claim up to ``claim`` jobs in one statement (``job_complete_and_claim``).

        Returns the ids still leased among ``batch`` and the claimed rows.
        """
        cur = await conn.execute(query("job_complete_and_claim"), {
            "done": self.as_json(batch), "worker_id": self.worker_id, "limit": claim,
            "lease_seconds": lease_seconds})
        rows: list[dict[str, Any]] = await cur.fetchall()  # type: ignore[assignment]
        return {str(r["id"]) for r in rows if r["kind"] == "done"}, [r for r in rows if r["kind"] == "claimed"]

    @staticmethod
    def as_json(batch: list[Finished]) -> Jsonb:
        return Jsonb([{"id": f.id, "attempts": f.attempts, "result": f.result} for f in batch])

    def _update_idle(self) -> None:
        if not self.pending and not self._in_flight:
            self._idle.set()
