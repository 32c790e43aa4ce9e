"""The PNG chart of a results file: pickup latency percentiles and drain throughput per system.

Runs in the bench's own venv (matplotlib is not a project dependency):
``bench/.work/venv/bin/python -m bench.chart results.json chart.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _bars(ax: Any, groups: list[str], series: dict[str, list[dict[str, Any] | None]], ylabel: str) -> None:
    width = 0.8 / max(1, len(series))
    for index, (name, spreads) in enumerate(series.items()):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        medians = [s["median"] if s else 0 for s in spreads]
        low = [s["median"] - s["min"] if s else 0 for s in spreads]
        high = [s["max"] - s["median"] if s else 0 for s in spreads]
        ax.bar(xs, medians, width, yerr=[low, high], capsize=2, label=name)
    ax.set_xticks(range(len(groups)), groups, fontsize=7, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)


def draw(results: dict[str, Any], out: Path) -> None:
    phases = results["phases"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    latency = phases.get("latency", {})
    percentiles = ["p50", "p95", "p99"]
    _bars(ax1, percentiles, {name: [cell["summary"].get(p) for p in percentiles]
                             for name, cell in latency.items()}, "ms (median of repeats, min–max bars)")
    ax1.set_title("Pickup latency: insert commit → handler start")
    throughput = phases.get("throughput", {})
    drains = list(dict.fromkeys(label for cells in throughput.values() for label in cells))
    _bars(ax2, drains, {name: [cells.get(d, {}).get("summary", {}).get("jobs_per_s") for d in drains]
                        for name, cells in throughput.items()}, "jobs/s")
    ax2.set_title("Drain throughput")
    fig.suptitle(f"report-generator bench {results.get('started_at')} · "
                 f"{results.get('machine', {}).get('cores')} cores, shared machine", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
