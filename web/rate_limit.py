"""A per-key token bucket, in process: bounds how often one user (in one workspace) may do a costly thing.

Used by the template preview, where each request starts a render process. Kept in memory on purpose: it
protects this instance's CPU, which is what a preview spends, so a limit shared through the database
would buy nothing but a round trip per keystroke pause. With N web instances a user gets at most N times
the rate, still bounded. An empty bucket answers 429 with ``Retry-After`` (DESIGN.md's quota answer).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common.errors import RetryLater

MAX_KEYS = 10_000


class TooManyRequests(RetryLater):
    """An empty bucket: too many of one costly request from one user."""


@dataclass
class TokenBucket:
    """``capacity`` requests at once, refilled at ``per_second``; ``take`` raises ``TooManyRequests``."""

    capacity: float
    per_second: float
    what: str = "requests"
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key → (tokens, as of)

    def take(self, key: str) -> None:
        now = self.clock()
        tokens, since = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - since) * self.per_second)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.per_second)
            self._buckets[key] = (tokens, now)
            raise TooManyRequests(f"too many {self.what}: try again in {wait} s", retry_after=wait)
        if len(self._buckets) >= MAX_KEYS and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)

    def _forget_full(self, now: float) -> None:
        """Drop keys whose bucket has refilled (they hold no information), so memory stays bounded."""
        for key, (tokens, since) in list(self._buckets.items()):
            if tokens + (now - since) * self.per_second >= self.capacity:
                del self._buckets[key]
        if len(self._buckets) >= MAX_KEYS:
            self._buckets.clear()
