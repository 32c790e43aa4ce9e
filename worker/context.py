"""What a handler gets: the job, and ways to cooperate with the worker (cancellation, threads)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from common.config import Settings

T = TypeVar("T")


@dataclass
class JobContext:
    id: str
    workspace_id: str
    type: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    created_at: datetime
    settings: Settings
    database_url: str
    pool: Any = None  # the worker's AsyncConnectionPool, for handlers that read or write tables
    metrics: Any = None  # the worker's common.metrics.Metrics (None in tests that build a context alone)
    # Set when a user asked to cancel the job; handlers that poll can stop early and cleanly.
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    # Wall-clock times (epoch seconds) of the worker's steps before the handler ran, for PING {"trace":
    # true}: claim_sent (the claim statement left), claim_seen (its reply, committed, was read),
    # dispatched (the job's task was created). Empty unless the payload asks for a trace.
    trace: dict[str, float] = field(default_factory=dict)

    async def run_in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking or CPU-bound work off the event loop (heartbeats keep the lease meanwhile)."""
        return await asyncio.to_thread(fn, *args)
