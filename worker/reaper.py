"""Rescues jobs whose lease ran out; prunes old finished jobs, old audit events and dead workers' rows.

Any worker may rescue any job: the one that held it died, hung, or lost the database for longer than
the lease. A rescued job comes back after a backoff (the retry formula of common/backoff.py), so that a
job that kills its worker does not kill the next one at once. Pruning deletes finished jobs older than
``JOB_RETENTION_DAYS`` (with their attempt history) in batches, so the table does not grow without bound
and no single statement holds many locks. It must keep pace with the drain: one process finishes
2,000-15,000 jobs/s, so a round deletes batch after batch while batches come back full, up to the store's
time budget (``PRUNE_BUDGET_SECONDS``). Rounds come every ``PRUNE_EVERY_SECONDS`` while pruning keeps up;
a round that ran out of budget with old jobs left is "behind", and then the next round follows after
``PRUNE_BEHIND_PAUSE_SECONDS`` (rescue runs between rounds), so pruning speeds up to nearly all the time
until it has caught up. Measured by bench/prune_soak.py (docs/benchmarks.md). Audit events older than
``AUDIT_RETENTION_DAYS`` are pruned the same way, in the same rounds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from common import backoff
from common.config import Settings
from common.errors import DatabaseUnavailable, QueueError
from common.metrics import Metrics
from common.queue import PRUNE_BUDGET_SECONDS, QueueStore
from common.queue_types import Rescued

log = logging.getLogger(__name__)
RESCUE_BATCH = 100
PRUNE_EVERY_SECONDS = 10.0  # while pruning keeps up
PRUNE_BEHIND_PAUSE_SECONDS = 0.5  # between rounds while behind
DEAD_WORKER_ROW_SECONDS = 600.0


class Reaper:
    def __init__(self, store: QueueStore, settings: Settings, metrics: Metrics, *,
                 on_requeued: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.on_requeued = on_requeued  # some rescued job is QUEUED again: the claim loop may look
        self.interval = min(settings.poll_interval_seconds, settings.job_lease_seconds / 3)
        self._last_prune: float | None = None
        self.behind = False  # the last prune round ran out of budget with old jobs left
        self.prune_budget_seconds = PRUNE_BUDGET_SECONDS

    async def run_once(self) -> list[Rescued]:
        """Rescue expired leases; prune when a prune is due. Returns the rescued jobs."""
        rescued = await self.store.rescue_expired(RESCUE_BATCH, backoff.retry_delays(
            self.settings.retry_backoff_seconds))
        for job in rescued:
            log.warning("rescued job whose lease expired (held by %s); now %s", job.was_locked_by, job.status,
                        extra={"job_id": job.id})
        self.metrics.rescued.inc(len(rescued))
        if any(job.status == "QUEUED" for job in rescued):
            self.on_requeued()
        if self.behind or self._last_prune is None or time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            await self.prune()
        return rescued

    async def prune(self) -> int:
        retention = self.settings.job_retention_days * 86400
        pruned = await self.store.prune_finished(retention, budget_seconds=self.prune_budget_seconds)
        self.behind = pruned.behind
        if pruned.deleted:
            log.info("pruned %d finished jobs older than %g days in %.2f s (%d rows/s)%s", pruned.deleted,
                     self.settings.job_retention_days, pruned.seconds, pruned.deleted / max(pruned.seconds, 1e-3),
                     "; behind, pruning again at once" if pruned.behind else "")
        await self.store.prune_workers(max(DEAD_WORKER_ROW_SECONDS, 3 * self.settings.poll_interval_seconds))
        events = await self.store.prune_audit(self.settings.audit_retention_days * 86400)
        if events.deleted:
            log.info("pruned %d audit events older than %.1f days", events.deleted,
                     self.settings.audit_retention_days)
        self.behind = self.behind or events.behind
        return pruned.deleted

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_BEHIND_PAUSE_SECONDS if self.behind
                                else self.interval * random.uniform(0.8, 1.2))
            try:
                await self.run_once()
            except (DatabaseUnavailable, QueueError) as exc:
                self.metrics.database_errors.labels(operation="reaper").inc()
                log.debug("reaper skipped a round: %s", exc)
