"""A short side-by-side run for a shared machine: ``python -m bench.side_by_side [--repeats N]``.

The same phases as ``make bench`` (pickup latency, the one-process 10,000-job drain at defaults, single-row
enqueue from 1 and 16 clients), at smaller sizes, every system interleaved within each repeat, and the
load average recorded before each repeat. Report ratios from one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from bench import config, machine
from bench.run import RESULTS_DIR, Runner, _systems
from bench.systems.reportgen import ReportGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--systems", help="comma-separated subset")
    args = parser.parse_args()
    sizes = replace(config.full(2), repeats=1, latency_jobs=100, latency_limit=30,
                    drains=[config.Drain(10_000, 1, False)], drain_limit={10_000: 15.0}, enqueue_duration=1.5)
    notes: list[str] = []
    systems = _systems(argparse.Namespace(systems=args.systems), sizes, notes)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out: dict[str, object] = {"started_at": stamp, "repeats": [], "notes": notes,
                              "versions": {k: v for s in systems for k, v in s.versions().items()}}
    for note in notes:
        print(f"not measured: {note}", flush=True)
    for rep in range(args.repeats):
        runner = Runner(sizes, systems, RESULTS_DIR.parent / ".work" / "side" / f"{stamp}-{rep}",
                        ["latency", "throughput", "enqueue"])
        load = machine.loadavg()
        runner.start()
        try:
            result = {"load_start": load, "latency": runner.run_latency(), "throughput": runner.run_throughput(),
                      "enqueue": runner.run_enqueue(), "load_end": machine.loadavg()}
        finally:
            runner.server.stop()
        out["repeats"].append(result)  # type: ignore[attr-defined]
        print(summary(result), flush=True)
    path = RESULTS_DIR / "tmp" / f"side-by-side-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


def summary(result: dict[str, object]) -> str:
    ours = ReportGenerator.name
    lat, thr, enq = result["latency"], result["throughput"], result["enqueue"]  # type: ignore[index]
    lines = [f"load {result['load_start']} → {result['load_end']}",
             "| system | pickup p50 ms | p99 ms | drain 10k jobs/s | enqueue 1 client /s | 16 clients /s |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in lat:  # type: ignore[union-attr]
        cell = lat[name]["repeats"][0]  # type: ignore[index]
        drain = next(iter(thr[name].values()))["repeats"][0]  # type: ignore[index]
        e = enq[name]  # type: ignore[index]
        lines.append(f"| {name} | {cell['p50']:.2f} | {cell['p99']:.2f} | {drain['jobs_per_s']:.0f} | "
                     f"{e['1 client']['repeats'][0]['jobs_per_s']:.0f} | "
                     f"{e['16 clients']['repeats'][0]['jobs_per_s']:.0f} |")
    extra = enq.get(f"{ours} (no NOTIFY trigger)")  # type: ignore[union-attr]
    if extra:
        lines.append(f"| {ours} w/o NOTIFY trigger | | | | {extra['1 client']['repeats'][0]['jobs_per_s']:.0f} | "
                     f"{extra['16 clients']['repeats'][0]['jobs_per_s']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
