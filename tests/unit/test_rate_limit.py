"""The preview's token bucket, on a fake clock."""

from __future__ import annotations

import pytest

from web.rate_limit import TokenBucket, TooManyRequests


def test_a_burst_is_allowed_then_refused_with_the_wait_then_refilled() -> None:
    now = [0.0]
    bucket = TokenBucket(3, 0.5, what="previews", clock=lambda: now[0])
    for _ in range(3):
        bucket.take("a")
    with pytest.raises(TooManyRequests) as refused:
        bucket.take("a")
    assert refused.value.status == 429 and refused.value.retry_after == 2
    bucket.take("b")  # keys are independent (user and workspace)
    now[0] += 2.0
    bucket.take("a")
    with pytest.raises(TooManyRequests):
        bucket.take("a")


def test_memory_stays_bounded_by_forgetting_full_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("web.rate_limit.MAX_KEYS", 10)
    now = [0.0]
    bucket = TokenBucket(2, 1.0, clock=lambda: now[0])
    for i in range(10):
        bucket.take(f"k{i}")
    now[0] += 5
    bucket.take("new")
    assert len(bucket._buckets) == 1
