"""Rescues jobs whose lease ran out; prunes old finished jobs, old audit events and dead workers' rows.

Any worker may rescue any job: the one that held it died, hung, or lost the database for longer than
the lease. A rescued job comes back after a backoff (the retry formula of common/backoff.py), so that a
job that kills its worker does not kill the next one at once. Pruning deletes finished jobs older than
``JOB_RETENTION_DAYS`` (with their attempt history) in batches, so the table does not grow without bound
and no single statement holds many locks. It must keep pace with the drain: one process finishes
2,000-15,000 jobs/s, so a round deletes batch after batch while batches come back full (up to the store's
time budget), and rounds come every ``PRUNE_EVERY_SECONDS`` (bench/prune_soak.py). Audit events older
than ``AUDIT_RETENTION_DAYS`` are pruned the same way, in the same rounds.
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
from common.queue import QueueStore
from common.queue_types import Rescued

log = logging.getLogger(__name__)
RESCUE_BATCH = 100
PRUNE_EVERY_SECONDS = 10.0  # with the batch loop in QueueStore.prune_finished: keeps pace with the drain
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
        if self._last_prune is None or time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            await self.prune()
        return rescued

    async def prune(self) -> int:
        retention = self.settings.job_retention_days * 86400
        deleted = await self.store.prune_finished(retention)
        if deleted:
            log.info("pruned %d finished jobs older than %.1f days", deleted, self.settings.job_retention_days)
        await self.store.prune_workers(max(DEAD_WORKER_ROW_SECONDS, 3 * self.settings.poll_interval_seconds))
        events = await self.store.prune_audit(self.settings.audit_retention_days * 86400)
        if events:
            log.info("pruned %d audit events older than %.1f days", events, self.settings.audit_retention_days)
        return deleted

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))
            try:
                await self.run_once()
            except (DatabaseUnavailable, QueueError) as exc:
                self.metrics.database_errors.labels(operation="reaper").inc()
                log.debug("reaper skipped a round: %s", exc)
