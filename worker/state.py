"""What a worker holds: the attempts it runs, and the finished ones whose completion is not yet written.

Shared by the claim loop (adds), the executor (removes), the heartbeat (renews and, when renewals stop
succeeding, stops handlers) and shutdown (gives back). Everything runs on one event loop, so plain dicts
are enough; what matters is that every held lease is in exactly one of the two maps.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from common.queue_types import ClaimedJob, Lease
from worker.context import JobContext

STOP_REASONS = ("cancel", "lease_lost", "shutdown")


@dataclass
class Running:
    job: ClaimedJob
    ctx: JobContext
    # When the last renewal that succeeded was *sent* (monotonic), first the claim's: the lease in the
    # database runs at least ``lease`` seconds from then, so that is what the watchdog measures from.
    renewed_at: float
    task: asyncio.Task[str] | None = None
    stop_reason: str | None = None  # one of STOP_REASONS once we stop it ourselves
    recording: bool = False  # the handler has ended; its outcome is being written (no more stopping)


@dataclass
class WorkerState:
    running: dict[str, Running] = field(default_factory=dict)
    unrecorded: dict[str, int] = field(default_factory=dict)  # finished, completion not yet written
    claim_seq: int = 0  # claims started so far
    claims_in_flight: int = 0  # claim statements awaiting their reply

    def held(self) -> list[Lease]:
        return [r.job.lease for r in self.running.values()] + [Lease(i, a) for i, a in self.unrecorded.items()]

    def stop(self, job_id: str, reason: str) -> bool:
        """Ask a running handler to stop (its task is cancelled); False when not running or stopping."""
        assert reason in STOP_REASONS, reason
        running = self.running.get(job_id)
        if running is None or running.stop_reason is not None or running.recording:
            return False
        running.stop_reason = reason
        if reason == "cancel":
            running.ctx.cancel_requested.set()
        if running.task is not None:
            running.task.cancel()
        return True

    def claim_quiet_since(self, seq: int) -> bool:
        """No claim was started since ``seq`` and none is in flight: every job locked by us that we do not
        hold was claimed by a statement whose reply was lost."""
        return self.claims_in_flight == 0 and self.claim_seq == seq

    @staticmethod
    def now() -> float:
        return time.monotonic()
