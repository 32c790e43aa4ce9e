"""Quick one-process drains of report-generator: ``python -m bench.drain [--jobs N] [--concurrency C ...]``.

A short A/B tool for the worker's hot path (``make bench`` is the side-by-side run): N no-op PINGs
committed at once, one idle worker, time until none is left, exactly-once checked. ``--env K=V`` passes
settings to the worker; ``--cprofile`` runs it under cProfile and prints the top functions by own time;
``--analyze`` runs ``ANALYZE`` right after the insert (the claim plan with statistics that know the jobs);
``--cpu`` adds the CPU per job of the worker and of each of its database connections' backends (by
application name: the claim loop's, the completer's, ...) and of the whole machine.
Each line carries the load average at its start (the machine is shared).
"""

from __future__ import annotations

import argparse
import pstats
import sys
from pathlib import Path

from bench import machine
from bench.phases import throughput
from bench.phases.common import Target
from bench.server import BenchServer
from bench.systems.base import WorkerSpec
from bench.systems.reportgen import ReportGenerator

OUT = Path(__file__).resolve().parent / ".work" / "drain"


class Profiled(ReportGenerator):
    def __init__(self, out: Path | None, env: dict[str, str]) -> None:
        super().__init__()
        self.out = out
        self.extra = env

    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        spec = super().worker(url, concurrency, port)
        spec.env.update(self.extra)
        if self.out is not None:
            spec.argv = [sys.executable, "-m", "cProfile", "-o", str(self.out), "-m", "worker"]
        return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="K=V for the worker")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--limit", type=float, default=30.0)
    parser.add_argument("--cpu", action="store_true", help="CPU microseconds per job, by process")
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE right after the insert (its time counted): claims planned with fresh statistics")
    args = parser.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    OUT.mkdir(parents=True, exist_ok=True)
    server = BenchServer(OUT / "pg")
    server.start()
    try:
        url = server.create_database("bench_drain")
        profile = OUT / "worker.prof" if args.cprofile else None
        system = Profiled(profile, env)
        system.setup(url)
        target = Target(system, url)
        for rep in range(args.repeats):
            for conc in args.concurrency:
                load = machine.loadavg()
                result = throughput.drain(target, args.jobs, 1, conc, OUT / "logs" / f"c{conc}-{rep}", args.limit,
                                          analyze=args.analyze, cpu=args.cpu)
                print(f"c={conc} rep {rep}: {result['jobs_per_s']:.0f} jobs/s "
                      f"({result['done']} in {result['seconds']:.2f} s) load {load}", flush=True)
                for label, us in result.get("cpu_us_per_job", {}).items():
                    print(f"    cpu per job: {us:7.1f} us  {label}", flush=True)
                if profile is not None and profile.exists():
                    stats = pstats.Stats(str(profile))
                    stats.sort_stats("tottime").print_stats(25)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
