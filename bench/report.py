"""Results on disk: JSON, a Markdown report with ratios as the headline, and the PNG chart."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import setup_env

OURS = "report-generator"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"


def _fmt(spread: dict[str, Any] | None, digits: int = 1) -> str:
    if not spread or spread.get("median") is None:
        return "–"
    median, lo, hi = spread["median"], spread["min"], spread["max"]
    if spread.get("n", 1) > 1:
        return f"{median:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"
    return f"{median:,.{digits}f}"


def _median(cell: dict[str, Any] | None, key: str) -> float | None:
    if not cell:
        return None
    value = cell.get("summary", {}).get(key, {}).get("median")
    return float(value) if value is not None else None


def _ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:.2f}×" if num and den else "–"


def _best_drain(cells: dict[str, Any], procs: int) -> float | None:
    values = [_median(c, "jobs_per_s") for label, c in cells.items() if f"· {procs} proc ·" in label]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def headline(results: dict[str, Any]) -> list[str]:
    phases = results["phases"]
    lat = phases.get("latency", {})
    thr = phases.get("throughput", {})
    enq = phases.get("enqueue", {})
    lines = ["| vs competitor | pickup p50 (theirs ÷ ours) | pickup p99 (theirs ÷ ours) | "
             "drain, 1 process, best setting (ours ÷ theirs) | enqueue, 16 clients (ours ÷ theirs) |",
             "|---|---|---|---|---|"]
    ours_lat, ours_thr, ours_enq = lat.get(OURS), thr.get(OURS, {}), enq.get(OURS, {})
    for name in [n for n in lat.keys() | thr.keys() if n != OURS]:
        theirs_enq = enq.get(name, {}).get("16 clients")
        lines.append(
            f"| {name} | {_ratio(_median(lat.get(name), 'p50'), _median(ours_lat, 'p50'))} "
            f"| {_ratio(_median(lat.get(name), 'p99'), _median(ours_lat, 'p99'))} "
            f"| {_ratio(_best_drain(ours_thr, 1), _best_drain(thr.get(name, {}), 1))} "
            f"| {_ratio(_median(ours_enq.get('16 clients'), 'jobs_per_s'), _median(theirs_enq, 'jobs_per_s'))} |")
    lines.append("")
    lines.append("Ratios above 1.00× mean report-generator is ahead.")
    return lines


def _latency_table(title: str, cells: dict[str, Any], extra: tuple[str, ...] = ()) -> list[str]:
    keys = ("p50", "p95", "p99", "max", *extra)
    lines = [f"### {title}", "", "| system | " + " | ".join(f"{k} (ms)" for k in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for name, cell in cells.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(cell["summary"].get(k), 2) for k in keys) + " |")
    return [*lines, ""]


def _grid(title: str, cells: dict[str, Any], key: str, unit: str) -> list[str]:
    rows = list(dict.fromkeys(label for system in cells.values() for label in system))
    names = list(cells)
    lines = [f"### {title}", "", f"| {unit} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in rows:
        values = []
        for name in names:
            cell = cells[name].get(row)
            text = _fmt(cell["summary"].get(key) if cell else None, 0)
            if cell and "concurrency" in cell:
                text += f" [c={cell['concurrency']}]"
            values.append(text)
        lines.append(f"| {row} | " + " | ".join(values) + " |")
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    phases = results["phases"]
    out = [f"## Benchmark run {results.get('started_at')} ({results.get('mode')})", ""]
    if OURS in phases.get("latency", {}) and len(phases["latency"]) > 1:
        out += ["### Headline: ratios to each competitor (same run, same server)", "", *headline(results), ""]
    if "latency" in phases:
        out += _latency_table("Pickup latency: insert commit → handler start, idle listening worker",
                              phases["latency"])
    if "throughput" in phases:
        out += _grid("Drain throughput (jobs/s)", phases["throughput"], "jobs_per_s", "drain")
    if "enqueue" in phases:
        out += _grid("Enqueue rate, no worker running (jobs/s)", phases["enqueue"],
                     "jobs_per_s", "enqueue")
    if "scale" in phases:
        cell = phases["scale"][OURS]
        out += _latency_table(f"Scale: {cell['rows']:,} finished jobs in the table "
                              "(pickup latency, and the worker's /metrics scrape)", phases["scale"],
                              ("metrics_p50", "metrics_max"))
    if "web" in phases:
        out += _web(phases["web"][OURS]["summary"])
    if "poll" in phases:
        cell = phases["poll"][OURS]
        interval = cell["repeats"][0]["interval_s"]
        out += _latency_table(f"Poll fallback: NOTIFY trigger disabled, POLL_INTERVAL_SECONDS={interval}",
                              phases["poll"])
    out += _facts(results)
    if results.get("notes"):
        out += ["### Not measured", "", *[f"- {n}" for n in results["notes"]], ""]
    if results.get("errors"):
        out += ["### Errors", "", *[f"- {e}" for e in results["errors"]], ""]
    return "\n".join(out)


def _web(summary: dict[str, Any]) -> list[str]:
    lines = ["### Web API under concurrent clients (separate load process)", "",
             "| request | requests/s | p50 (ms) | p99 (ms) | max (ms) |", "|---|---|---|---|---|"]
    for mode, label in (("post", "POST /api/jobs"), ("get", "GET /api/jobs/{id}")):
        s = summary[mode]
        lines.append(f"| {label} | {_fmt(s['requests_per_s'], 0)} | {_fmt(s['p50'], 1)} | "
                     f"{_fmt(s['p99'], 1)} | {_fmt(s['max'], 1)} |")
    return [*lines, ""]


def _facts(results: dict[str, Any]) -> list[str]:
    machine = results.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items())
    server = ", ".join(f"{k}={v}" for k, v in sorted(results.get("server", {}).items()))
    return ["### Machine, versions, server", "",
            f"- machine: {machine.get('cores')} cores, {machine.get('cpu')}, {machine.get('memory_gib')} GiB, "
            f"load average {machine.get('loadavg_start')} at start and {machine.get('loadavg_end')} at end; "
            f"{machine.get('note')}",
            f"- versions: {versions}", f"- PostgreSQL: {server}",
            f"- medians over {results.get('sizes', {}).get('repeats')} repeats, (min–max) in brackets; "
            f"run took {results.get('duration_s', 0):.0f} s", ""]


def write(results: dict[str, Any], out_dir: Path, name: str, chart: bool, latest: bool) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True))
    md_path = out_dir / f"{name}.md"
    text = markdown(results)
    md_path.write_text(text + "\n")
    paths = [json_path, md_path]
    png_path = out_dir / f"{name}.png"
    if chart and setup_env.venv_python().exists():
        subprocess.run([str(setup_env.venv_python()), "-m", "bench.chart", str(json_path), str(png_path)],
                       cwd=Path(__file__).resolve().parents[1], check=True)
        paths.append(png_path)
    if latest:
        for path in paths:
            shutil.copyfile(path, out_dir / f"latest{path.suffix}")
        update_docs(text)
    return paths


def update_docs(text: str) -> None:
    """Replace the latest-results block of docs/benchmarks.md (between the two markers)."""
    if not DOCS.exists():
        return
    doc = DOCS.read_text()
    block = f"{START}\n{text.replace('## Benchmark run', '#### Benchmark run', 1)}\n{END}"
    if START in doc and END in doc:
        DOCS.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, doc, flags=re.S))
