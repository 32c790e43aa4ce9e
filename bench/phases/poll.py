"""Poll fallback: NOTIFY trigger disabled, every job must still start within the poll interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.phases import latency
from bench.phases.common import PhaseError, Target
from bench.systems.reportgen import ReportGenerator, set_notify


def run(target: Target, jobs: int, interval: float, log_dir: Path) -> dict[str, Any]:
    system = target.system
    assert isinstance(system, ReportGenerator)
    names = system.notify_triggers(target.url)
    if not names:
        raise PhaseError("no NOTIFY trigger on jobs found to disable")
    set_notify(target.url, names, enabled=False)
    try:
        result = latency.measure(target, jobs, interval * 0.37, log_dir,
                                 time_limit=jobs * interval + 30,
                                 env={"POLL_INTERVAL_SECONDS": str(interval)})
    finally:
        set_notify(target.url, names, enabled=True)
    bound_ms = (interval * 1.25 + 0.25) * 1000  # the poll tick may carry a little jitter
    result.update({"interval_s": interval, "bound_ms": bound_ms, "triggers_disabled": names})
    if result["max"] > bound_ms:
        raise PhaseError(f"poll fallback: a job waited {result['max']:.0f} ms with a {interval} s interval")
    return result
