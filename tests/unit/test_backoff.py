"""The one backoff formula (common/backoff.py) every retry, rescue and reconnect uses."""

from __future__ import annotations

from common import backoff


def test_retry_delay_grows_exponentially_with_bounded_jitter():
    for attempt, base in ((1, 2.0), (2, 4.0), (3, 8.0)):
        delays = [backoff.retry_delay(attempt, 2.0) for _ in range(200)]
        assert base * 0.75 <= min(delays) and max(delays) <= base * 1.25
        assert max(delays) - min(delays) > 0, "jitter spreads retries"
    assert backoff.retry_delay(40, 2.0) <= 600 * 1.25
    assert backoff.retry_delay(10**6, 2.0) <= 600 * 1.25, "huge attempt numbers do not overflow"


def test_reconnect_delay_starts_fast_and_is_capped():
    first = [backoff.reconnect_delay(1) for _ in range(100)]
    assert min(first) >= 0.025 and max(first) <= 0.05
    assert max(backoff.reconnect_delay(50) for _ in range(100)) <= backoff.RECONNECT_CAP_SECONDS


def test_rescue_delays_follow_the_retry_formula_per_attempt():
    delays = backoff.retry_delays(1.0, max_attempts=5)
    assert len(delays) == 5
    for attempt, value in enumerate(delays, start=1):
        assert 0.75 * 2 ** (attempt - 1) <= value <= 1.25 * 2 ** (attempt - 1)


def test_there_is_one_backoff_formula_in_the_code():
    """The exponential shape ``2 ** …`` is written once, in common/backoff.py (issue 10: there were six)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [str(p.relative_to(root)) for package in ("common", "worker", "web")
                 for p in (root / package).rglob("*.py")
                 if "2 **" in p.read_text() or "2.0 **" in p.read_text()]
    assert offenders == ["common/backoff.py"]
