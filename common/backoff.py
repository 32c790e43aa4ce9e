"""The one backoff formula: capped exponential growth with jitter.

Used for retried attempts (``RETRY_BACKOFF_SECONDS``·2^(n-1), ±25 %), rescued jobs (the same, so a job
that kills its worker does not kill the next one at once), and reconnects (fast first tries, capped at
about a second: after an outage a quick return matters more than politeness). Jitter keeps many failing
jobs or many reconnecting workers from coming back in lockstep.
"""

from __future__ import annotations

import random

RETRY_CAP_SECONDS = 600.0
RECONNECT_FIRST_SECONDS = 0.05
RECONNECT_CAP_SECONDS = 1.0


def delay(n: int, *, base: float, cap: float, jitter: tuple[float, float] = (0.75, 1.25)) -> float:
    """Seconds to wait before try ``n`` (1 = the first retry): ``min(cap, base·2^(n-1))`` times a random
    factor drawn from ``jitter``."""
    exponent = max(0, min(n - 1, 62))  # 2**62 s is beyond any cap; avoid float overflow for huge n
    return min(cap, base * 2.0 ** exponent) * random.uniform(*jitter)


def retry_delay(attempt: int, base_seconds: float) -> float:
    """After failed attempt ``attempt``: ``base·2^(attempt-1)`` ±25 %, at most ten minutes."""
    return delay(attempt, base=base_seconds, cap=RETRY_CAP_SECONDS)


def retry_delays(base_seconds: float, max_attempts: int = 100) -> list[float]:
    """``retry_delay`` for attempts 1…max_attempts, for SQL that picks one per row (rescued jobs)."""
    return [retry_delay(attempt, base_seconds) for attempt in range(1, max_attempts + 1)]


def reconnect_delay(failures: int, *, first: float = RECONNECT_FIRST_SECONDS,
                    cap: float = RECONNECT_CAP_SECONDS) -> float:
    """After ``failures`` failed connection attempts in a row: from ``first`` doubling to ``cap``, with
    half-to-full jitter."""
    return delay(failures, base=first, cap=cap, jitter=(0.5, 1.0))
