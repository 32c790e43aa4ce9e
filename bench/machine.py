"""Facts about the machine a run happened on (written into every result)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def facts() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(), "cpu": _cpu_model(), "memory_gib": _memory_gib(),
        "kernel": platform.release(), "python": platform.python_version(),
        "loadavg_start": loadavg(),
        "note": "shared 2-core machine: other engineers' tests may run at the same time; "
                "compare systems within one run (ratios), not absolute numbers across runs",
    }
