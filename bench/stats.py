"""Percentiles and the median-with-spread summaries the reports show."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99),
            "max": max(ms), "n": float(len(ms))}


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median over repeats with min and max, the form every reported number takes."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def merge_repeats(repeats: Sequence[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per key, the spread over repeats: [{'p50': 1.2, ...}, ...] -> {'p50': {'median', 'min', 'max'}}."""
    keys = repeats[0].keys() if repeats else []
    return {key: spread([r[key] for r in repeats if r.get(key) is not None]) for key in keys}
