"""Records finished attempts in batches.

A finished job is queued here and written by one ``job_complete_many_if_leased`` statement together with
whatever else finished meanwhile: at low load each job is written at once (the writer is idle), at high
load completions group themselves behind the write in flight, like a database's group commit. Until its
completion is written, a job stays in the worker's set of held leases, so the heartbeat keeps it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    def __init__(self, pool: AsyncConnectionPool, worker_id: str, *,
                 on_written: Callable[[Finished, bool], None]) -> None:
        self.pool = pool
        self.worker_id = worker_id
        self.on_written = on_written  # (job, still_leased) once its fate is known
        self.pending: list[Finished] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, finished: Finished) -> None:
        self.pending.append(finished)
        self._idle.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until everything submitted so far is written (used at shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    written = await self._write(batch)
                    failures = 0
                except (DatabaseUnavailable, *db.TRANSIENT_ERRORS) as exc:
                    failures += 1
                    self.pending[:0] = batch  # keep them; leases still protect the jobs meanwhile
                    delay = min(5.0, 0.05 * 2 ** min(failures, 7))
                    log.warning("could not record %d completion(s) (%s); retrying in %.2f s", len(batch),
                                str(exc)[:200], delay)
                    await asyncio.sleep(delay)
                    continue
                for item in batch:
                    self.on_written(item, item.id in written)
            if not self.pending:
                self._idle.set()

    async def _write(self, batch: list[Finished]) -> set[str]:
        done = Jsonb([{"id": f.id, "attempts": f.attempts, "result": f.result} for f in batch])
        async with db.translate_errors_async(), self.pool.connection() as conn:
            cur = await conn.execute(query("job_complete_many_if_leased"),
                                     {"done": done, "worker_id": self.worker_id})
            return {str(row["id"]) for row in await cur.fetchall()}  # type: ignore[call-overload]
