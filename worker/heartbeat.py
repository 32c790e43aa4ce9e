"""Keeps this worker's leases, on a connection of its own, and stops any handler whose lease it lost.

Two loops, both here:

- **renew** (every third of the lease): one ``job_extend_leases`` statement on the heartbeat's own
  connection extends every held lease, renews the worker's row in the registry of live workers (and
  their job types), and reports which jobs a user asked to cancel, which leases are gone (rescued after
  a long pause, given away), and which jobs are locked by us although we do not hold them (a claim
  whose reply was lost: given back at once instead of waiting a lease and burning an attempt).
- **watch** (a tenth of a second): a handler whose last *successful* renewal was sent more than
  ``lease − margin`` ago is stopped with reason ``lease_lost``. The database's lease runs at least
  ``lease`` from that moment, and no rescue can start before it ends, so the copy here has stopped
  before any other worker may start one: never two at once, even when the network to the database is
  black-holed (issue 10: a second worker re-ran such a job while the first copy kept running).

Handlers run off the event loop (async I/O, threads, child processes), so a handler that burns CPU does
not starve either loop; heartbeats never wait for a pool connection that handlers hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common.errors import DatabaseUnavailable, QueueError
from common.metrics import Metrics
from common.queue import QueueStore
from common.queue_types import Renewal
from worker.state import WorkerState

log = logging.getLogger(__name__)
WATCH_SECONDS = 0.1
MARGIN_FRACTION = 1 / 6  # of the lease: how long before the database's lease ends our copy must stop
MARGIN_MIN_SECONDS = 0.25


def safety_margin(lease_seconds: float) -> float:
    return max(MARGIN_MIN_SECONDS, lease_seconds * MARGIN_FRACTION)


class Heartbeat:
    def __init__(self, store: QueueStore, state: WorkerState, metrics: Metrics, *, lease_seconds: float) -> None:
        self.store = store
        self.state = state
        self.metrics = metrics
        self.lease = lease_seconds
        self.interval = lease_seconds / 3
        self.margin = safety_margin(lease_seconds)
        self.now = asyncio.Event()  # set to renew at once (a cancel request, the database is back)
        self.last_success: float | None = None

    async def run_once(self) -> Renewal | None:
        """One renewal; None when the database did not answer (the watch loop decides what that costs)."""
        held = self.state.held()
        seq = self.state.claim_seq
        sent = self.state.now()
        try:
            renewal = await self.store.renew(held, self.lease, timeout=self.interval)
        except (DatabaseUnavailable, QueueError) as exc:
            self.metrics.database_errors.labels(operation="heartbeat").inc()
            log.warning("heartbeat failed (%s); handlers stop %.1f s after the last renewal that succeeded",
                        exc, self.lease - self.margin)
            return None
        self.last_success = sent
        for lease in held:
            running = self.state.running.get(lease.id)
            if lease.id not in renewal.kept:
                if running is not None and running.job.attempts == lease.attempts:
                    log.warning("lease lost; stopping the handler", extra={"job_id": lease.id})
                    self.state.stop(lease.id, "lease_lost")
                continue
            if running is not None and running.job.attempts == lease.attempts:
                running.renewed_at = sent
            if renewal.kept[lease.id]:
                self.state.stop(lease.id, "cancel")
        if renewal.unknown and self.state.claim_quiet_since(seq):
            await self._give_back_unknown(renewal)
        return renewal

    async def _give_back_unknown(self, renewal: Renewal) -> None:
        known = {lease.id for lease in self.state.held()}
        lost = [lease for lease in renewal.unknown if lease.id not in known]
        if not lost:
            return
        try:
            given = await self.store.give_back(lost)
        except (DatabaseUnavailable, QueueError) as exc:
            log.warning("could not give back %d job(s) whose claim reply was lost: %s", len(lost), exc)
            return
        log.warning("gave back %d job(s) locked by this worker that it never received (a claim's reply was "
                    "lost)", given, extra={"job_ids": [lease.id for lease in lost]})

    def watch_once(self) -> list[str]:
        """Stop every handler whose lease may be about to end in the database; returns their ids."""
        deadline = self.state.now() - (self.lease - self.margin)
        stopped = []
        for job_id, running in list(self.state.running.items()):
            if running.renewed_at < deadline and self.state.stop(job_id, "lease_lost"):
                log.warning("no lease renewal for %.1f s: stopping the handler before another worker may "
                            "rescue the job", self.state.now() - running.renewed_at, extra={"job_id": job_id})
                stopped.append(job_id)
        return stopped

    async def run(self) -> None:
        await asyncio.gather(self._renew_loop(), self._watch_loop())

    async def _renew_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.now.wait(), self.interval)
            self.now.clear()
            await self.run_once()

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            self.watch_once()
