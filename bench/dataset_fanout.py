"""Web-side memory of a run that names one 5 MB CSV for N dataset parameters: before and after issue 11.

before: the dataset's bytes go to ``validate_parameters`` once per parameter (each parses its own copy);
after: ``report_datasets.parse_many`` parses each distinct dataset once (in a thread) and every parameter
shares the object. Each variant runs in a fresh interpreter; the number is its peak RSS (ru_maxrss).

    .venv/bin/python -m bench.dataset_fanout [N]     # default N=50
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time


def csv_of_5_mb() -> bytes:
    lines = ["id,name,region,amount,when"]
    i = 0
    while sum(len(x) + 1 for x in lines) < 5 * 1024 * 1024 - 200 and i < 49_999:
        lines.append(f"{i},customer-{i:06d}-{'x' * 40},region-{i % 17},{i * 3.25:.2f},2026-11-{i % 28 + 1:02d}")
        i += 1
    return ("\n".join(lines) + "\n").encode()


def variant(name: str, n: int) -> dict[str, float]:
    from common import report_datasets
    from common.reports import validate_declarations, validate_parameters

    data = csv_of_5_mb()
    decls = validate_declarations([{"name": f"d{i}", "type": "dataset", "required": True} for i in range(n)])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if name == "before":
        typed = validate_parameters(decls, {f"d{i}": data for i in range(n)}, dataset_limits=report_datasets.LIMITS)
    else:
        parsed = asyncio.run(report_datasets.parse_many({"one": data}))
        typed = validate_parameters(decls, {f"d{i}": parsed["one"] for i in range(n)},
                                    dataset_limits=report_datasets.LIMITS)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(typed) == n
    return {"csv_mb": round(len(data) / 2**20, 2), "peak_rss_mb": round(peak / 1024, 1),
            "added_mb": round((peak - base) / 1024, 1), "cpu_seconds_on_caller": round(seconds, 2)}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--variant":
        print(json.dumps(variant(sys.argv[2], int(sys.argv[3]))))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    for name in ("before", "after"):
        out = subprocess.run([sys.executable, "-m", "bench.dataset_fanout", "--variant", name, name and str(n)],
                             capture_output=True, text=True, check=True)
        print(name, n, "parameters:", out.stdout.strip())


if __name__ == "__main__":
    main()
