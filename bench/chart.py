"""The PNG chart of a results file: pickup latency percentiles and drain throughput per system, or, for a
``bench/soak.py`` result, its four series over time (memory, pickup, the jobs table, queue and errors).

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


def draw_soak(results: dict[str, Any], out: Path) -> None:
    samples = results["samples"]
    minutes = [s["t"] / 60 for s in samples]
    mib = 1024 * 1024
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True)
    memory, pickup, table, queue = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    for key, label, style in (("worker_rss", "worker", "-"), ("web_rss", "web", "-"),
                              ("worker_children_rss", "worker's children", ":"),
                              ("web_children_rss", "web's children", ":")):
        memory.plot(minutes, [s[key] / mib for s in samples], style, label=label)
    memory.set_ylabel("RSS, MiB")
    memory.set_title("Memory")
    for key, label in (("pickup_p50_ms", "p50"), ("pickup_p99_ms", "p99")):
        pickup.plot(minutes, [s[key] if s[key] is not None else float("nan") for s in samples], label=label)
    pickup.set_ylabel("ms")
    pickup.set_yscale("log")
    pickup.set_title("PING pickup (enqueue → handler entry), per sample window")
    table.plot(minutes, [s["rows"] / 1000 for s in samples], label="rows (thousands)")
    twin = table.twinx()
    twin.plot(minutes, [s["bytes"] / mib for s in samples], "C1--", label="size, MiB")
    twin.set_ylabel("MiB")
    table.set_ylabel("thousand rows")
    table.set_title("jobs table")
    queue.plot(minutes, [s["queued"] for s in samples], label="queued (due)")
    queue.plot(minutes, [s["failed_jobs"] + s["failed_runs"] + s["http_errors"] for s in samples],
               label="errors (failed jobs + failed runs + HTTP)")
    queue.set_title("Queue depth and errors")
    for ax in (memory, pickup, table, queue):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    cfg = results.get("settings", {})
    web_rate = f" at {cfg['web_rate']:g} req/s" if cfg.get("web_rate") else ""
    fig.suptitle(f"soak: {cfg.get('pings_per_second'):g} PING/s + {cfg.get('runs_per_second'):g} report run/s, "
                 f"{cfg.get('minutes'):g} min, web clients {cfg.get('web_clients')}"
                 f"{web_rate}; "
                 f"{results.get('machine', {}).get('cores')} cores, shared machine", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    (draw_soak if results.get("soak") else draw)(results, Path(sys.argv[2]))


if __name__ == "__main__":
    main()
