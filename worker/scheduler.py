"""The scheduler: one more worker service, turning due schedules into runs, exactly once per fire time.

``run_once(now)`` is one transaction: claim the due schedules (``schedule_claim_due``: one range of the
partial index on next_fire_at, ``FOR UPDATE SKIP LOCKED`` so that every worker may tick at once and each
schedule is taken by one of them), and for each, record its fire and make the run with its START_RUN job
(common/schedules.fire), record the fires an outage made it miss as SKIPPED, and move next_fire_at past
``now``. With nothing due, a tick is that one indexed query, whatever the number of schedules. The unique
(schedule_id, fire_at) of schedule_fires backs the lock: even a fire re-attempted after a crash between
statements cannot make a second run. Ticks come every ``TICK_SECONDS`` (cron's resolution is a minute).

Fires count against their workspace's active-runs quota (common/quotas.py): one over it is recorded FAILED
with the quota's message. The claimed schedules fire in workspace order, so that two ticks take the
workspaces' quota locks in the same order (a web request takes one only) and never deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from typing import Any

from common import db, schedules
from common.errors import DatabaseUnavailable
from common.quotas import Quotas
from common.schedule_times import due, zone
from common.sql import query

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
CLAIM_BATCH = 100  # schedules per transaction; a tick that fills it runs again at once


class Scheduler:
    def __init__(self, pool: Any, metrics: Any = None, *, tick_seconds: float = TICK_SECONDS,
                 quotas: Quotas | None = None) -> None:
        self.pool = pool
        self.metrics = metrics
        self.tick_seconds = tick_seconds
        self.quotas = quotas.for_scheduler() if quotas is not None else None  # None: unchecked (tests, bench)

    async def run_once(self, now: datetime | None = None, limit: int = CLAIM_BATCH) -> int:
        """Fire every schedule due at ``now`` (default: the clock); returns how many were claimed."""
        now = now or datetime.now(UTC)
        async with db.translate_errors_async(), self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(query("schedule_claim_due"), {"now": now, "limit": limit})
            rows = await cur.fetchall()
            for row in sorted(rows, key=lambda r: (str(r["workspace_id"]), str(r["id"]))):
                await self._fire(conn, row, now)
        return len(rows)

    async def _fire(self, conn: Any, row: dict[str, Any], now: datetime) -> None:
        owed = due(row["cron"], zone(row["timezone"]), row["next_fire_at"], now)
        if owed is None:  # cannot happen (the claim compared the same times); keep the row as it is
            return
        await schedules.record_skipped(conn, row, owed.skipped)
        outcome = await schedules.fire(conn, row, owed.fire_at, quotas=self.quotas)
        await conn.execute(query("schedule_advance"), {"id": row["id"], "next_fire_at": owed.next_fire_at,
                                                       "last_fire_at": owed.fire_at})
        label = "duplicate" if outcome is None else outcome["outcome"].lower()
        if self.metrics is not None:
            self.metrics.schedule_fires.labels(outcome=label).inc()
            if owed.skipped_count:
                self.metrics.schedule_fires.labels(outcome="skipped").inc(owed.skipped_count)
        if owed.skipped_count:
            log.warning("schedule %s missed %d fire(s); ran the latest (%s)", row["id"], owed.skipped_count,
                        owed.fire_at.isoformat())

    async def run(self) -> None:
        while True:
            try:
                while await self.run_once() >= CLAIM_BATCH:
                    pass
            except DatabaseUnavailable as exc:
                log.debug("scheduler skipped a tick: %s", exc)
            except Exception:  # a bad row or a refused statement: log it, keep ticking
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.tick_seconds * random.uniform(0.9, 1.1))
