"""Records finished attempts in batches.

A finished job is queued here and written by one ``job_complete`` statement
together with whatever else finished meanwhile: at low load each job is written at once (the writer is
idle), at high load completions group themselves behind the write in flight, like a database's group
commit. The writes go on the completer's own connection while the worker's claims go on theirs: a busy
worker has a completion and a claim in flight at once, on two backends (until 2026-12-04 completions rode along in the
claim's statement: one commit for both, but one statement at a time; the parallel writes drained 1.29x
faster, docs/benchmarks.md). Until its completion is written, a job stays in the worker's set of held
leases, so the heartbeat keeps it.

No batch is ever stranded: a batch the database refuses (not unreachable: refused) is written again one
completion at a time, and the one it refuses fails its job with the reason (``on_unstorable``), while the
rest complete. Results are checked before they get here (``encode_result``), so this is the net under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from common import backoff
from common.errors import DatabaseUnavailable
from common.queue import QueueStore
from common.queue_types import AttemptError, Finished

log = logging.getLogger(__name__)
MAX_BATCH = 500


class Completer:
    """Holds finished attempts until its own task writes them (``run_once()``), a batch at a time."""

    def __init__(self, store: QueueStore, *, on_written: Callable[[Finished, bool], None],
                 on_unstorable: Callable[[Finished, AttemptError], Awaitable[None]]) -> None:
        self.store = store
        self.on_written = on_written  # (job, still_leased) once its fate is known
        self.on_unstorable = on_unstorable
        self.pending: list[Finished] = []
        self.suspect: list[Finished] = []  # in a batch the database refused: written one by one
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0  # batches taken (take) and not yet settled
        self._retry_now = asyncio.Event()  # the database is back: stop backing off
        self._failures = 0

    def submit(self, finished: Finished) -> None:
        self.pending.append(finished)
        self._idle.clear()
        self._wake.set()

    def retry_now(self) -> None:
        self._retry_now.set()

    def take(self) -> list[Finished]:
        """The next batch of pending completions, for a writer that then calls ``settle``."""
        batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
        if batch:
            self._in_flight += 1
        return batch

    def settle(self, batch: list[Finished], recorded: frozenset[str] | None, *, refused: bool = False) -> None:
        """The caller's statement committed (``recorded``: ids still leased), failed to reach the database
        (None: retry later), or was refused by it (``refused``: write them one by one)."""
        if not batch:
            return
        self._in_flight -= 1
        if refused:
            self.suspect.extend(batch)
            self._wake.set()
        elif recorded is None:
            self.pending[:0] = batch  # keep them; leases still protect the jobs meanwhile
            self._wake.set()
        else:
            for item in batch:
                self.on_written(item, item.id in recorded)
        self._update_idle()

    async def drained(self) -> None:
        """Wait until everything submitted so far is written (used at shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # the jobs that finish in this same turn of the loop join the batch
            while self.pending or self.suspect:
                if not await self.run_once():
                    self._retry_now.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._retry_now.wait(), backoff.reconnect_delay(self._failures))
            self._update_idle()

    async def run_once(self) -> bool:
        """Write one pending batch, or the refused completions one by one; False when the database was
        unreachable (the batch is kept for the next try)."""
        if self.suspect:
            return await self._write_one_by_one()
        batch = self.take()
        if not batch:
            return True
        try:
            recorded = await self.store.complete(batch)
        except asyncio.CancelledError:  # shutdown: the batch stays pending (its leases protect the jobs)
            self.settle(batch, None)
            raise
        except DatabaseUnavailable as exc:
            self._failures += 1
            self.settle(batch, None)
            log.warning("could not record %d completion(s) (%s); retrying", len(batch), str(exc)[:200])
            return False
        except Exception as exc:  # refused (QueueError) or a bug: never strand the batch
            log.warning("the database refused a batch of %d completion(s) (%s); writing them one by one",
                        len(batch), str(exc)[:200])
            self.settle(batch, None, refused=True)
            return True
        self._failures = 0
        self.settle(batch, recorded)
        return True

    async def _write_one_by_one(self) -> bool:
        items, self.suspect = self.suspect, []
        reached = True
        for item in items:
            try:
                recorded = await self.store.complete([item])
            except DatabaseUnavailable:
                self.suspect.append(item)  # try again later, still one by one
                reached = False
                continue
            except Exception as exc:
                await self.on_unstorable(item, AttemptError(
                    "ResultNotStorable", f"the database refused the result: {exc}"[:1000]))
                continue
            self.on_written(item, item.id in recorded)
        self._update_idle()
        return reached

    def _update_idle(self) -> None:
        if not self.pending and not self.suspect and not self._in_flight:
            self._idle.set()
