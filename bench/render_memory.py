"""Render memory (issue 11): how much address space the heaviest allowed renders need, and their peak RSS,
which is what ``RENDER_MEMORY_MB`` and ``common/memory_budget.py`` are sized by.

Cases: the 60,000-row table (about 1.2 M characters of output, under the 2 M cap) and the largest allowed
input, 2,000,000 dataset cells (50,000 rows x 40 columns, 3.8 MB of CSV) that the template aggregates.
Each case runs in a fresh interpreter (``--case``), so its children's peak RSS (``RUSAGE_CHILDREN``) is
its own; the address-space caps are tried from small to large, the first that passes is reported (the
child's peak RSS is the largest over the tries, i.e. the passing one's).

    .venv/bin/python -m bench.render_memory
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from common.reports.datasets import parse_csv
from common.reports.errors import RenderError
from common.reports.sandbox import RenderLimits, render_report

TABLE = "# Big\n\n| n | square |\n|---:|---:|\n{% for i in range(60000) %}| {{ i }} | {{ i * i }} |\n{% endfor %}\n"
CAPS_MB = {"table-60000-rows": (384, 416, 448, 480, 512), "cells-2000000": (128, 160, 192, 256)}


def _cells_csv() -> bytes:
    columns = 40
    lines = [",".join(f"c{i}" for i in range(columns))]
    lines += [",".join(str((r * 7 + i) % 10) for i in range(columns)) for r in range(50_000)]
    return ("\n".join(lines) + "\n").encode()


def case(name: str) -> dict[str, object]:
    if name == "table-60000-rows":
        body, values = TABLE, {}
    else:
        body, values = "# Cells\n{{ d | count }} rows\n", {"d": parse_csv(_cells_csv())}
    for cap in CAPS_MB[name]:
        started = time.perf_counter()
        try:
            render_report(body, values, RenderLimits(memory_bytes=cap << 20, wall_seconds=90, cpu_seconds=60))
        except RenderError as exc:
            # Just under its need a render can thrash (the allocator failing and retrying) until the CPU
            # limit or the deadline ends it, instead of failing with MemoryError: too small either way.
            if exc.kind in ("memory", "cpu", "timeout"):
                print(f"{name}: {cap} MiB: {exc.kind}", file=sys.stderr)
                continue
            raise
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        return {"case": name, "smallest_cap_mb": cap, "child_peak_rss_mb": peak,
                "seconds": round(time.perf_counter() - started, 1)}
    return {"case": name, "smallest_cap_mb": None}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        print(json.dumps(case(sys.argv[2])))
        return
    for name in ("table-60000-rows", "cells-2000000"):
        out = subprocess.run([sys.executable, "-m", "bench.render_memory", "--case", name], capture_output=True,
                             text=True, check=True)
        print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
