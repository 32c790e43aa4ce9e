"""Run the benchmark suite: ``python -m bench.run [--smoke] [--systems a,b] [--phases p,q] [--repeats n]``.

``--smoke`` runs every phase at tiny sizes for report-generator alone (no competitor install, no network)
and exits non-zero if any phase breaks; ``make test`` runs it. Without it, the competitors are installed
into bench/.work (bench.setup_env) and the full comparison runs; results go to bench/results/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import config, machine, report
from bench.phases import enqueue, latency, poll, scale, throughput, web
from bench.phases.common import Target
from bench.server import BenchServer
from bench.stats import merge_repeats
from bench.systems.base import System
from bench.systems.reportgen import ReportGenerator, set_notify

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
OURS = "report-generator"


def _systems(args: argparse.Namespace, sizes: config.Sizes, notes: list[str] | None = None) -> list[System]:
    """Ours, then (unless smoke) the peers and the seed loop; a peer that cannot run here goes to ``notes``."""
    systems: list[System] = [ReportGenerator()]
    if sizes.competitors:
        from bench import setup_env
        from bench.systems.competitors import all_competitors
        from bench.systems.seed import SeedLoop

        setup_env.main()
        systems += all_competitors()
        systems.append(SeedLoop())
        if not setup_env.oban_python().exists() and notes is not None:
            notes.append("oban-py: not measured: no Python >= 3.12 on this machine (PATH or pyenv)")
    if args.systems:
        wanted = set(args.systems.split(","))
        systems = [s for s in systems if s.name in wanted]
    return systems


class Runner:
    """Holds the server, the targets and the results of one run of the suite."""

    def __init__(self, sizes: config.Sizes, systems: list[System], work: Path, phases: list[str]) -> None:
        self.sizes = sizes
        self.systems = systems
        self.work = work
        self.phases = phases
        self.server = BenchServer(work / "pg")
        self.targets: dict[str, Target] = {}
        self.results: dict[str, Any] = {"phases": {}, "errors": []}

    def start(self) -> None:
        self.server.start()
        for system in self.systems:
            url = self.server.create_database(system.database)
            system.setup(url)
            self.targets[system.name] = Target(system, url)
        self.results["server"] = self.server.facts()
        self.results["versions"] = {k: v for s in self.systems for k, v in s.versions().items()}

    def phase(self, name: str, body: Callable[[], Any]) -> None:
        if name not in self.phases:
            return
        print(f"bench: {name} …", flush=True)
        started = time.monotonic()
        try:
            self.results["phases"][name] = body()
        except Exception as exc:  # recorded, reported, and the run exits non-zero
            traceback.print_exc()
            self.results["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"bench: {name} done in {time.monotonic() - started:.1f} s", flush=True)

    def _note(self, text: str) -> None:
        notes = self.results.setdefault("notes", [])
        if text not in notes:
            notes.append(text)

    def logs(self, *parts: str) -> Path:
        return self.work.joinpath("logs", *parts)

    def ours(self) -> Target:
        return self.targets[OURS]

    def run_latency(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for rep in range(self.sizes.repeats):  # systems interleaved so drift hits all alike
            for name, target in self.targets.items():
                result = latency.measure(target, self.sizes.latency_jobs, self.sizes.latency_spacing,
                                         self.logs("latency", name, str(rep)), self.sizes.latency_limit)
                out.setdefault(name, {"repeats": []})["repeats"].append(result)
        return _summarise(out)

    def run_throughput(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for drain in self.sizes.drains:
            for rep in range(self.sizes.repeats):
                for name, target in self.targets.items():
                    system = target.system
                    if system.max_procs is not None and drain.procs > system.max_procs:
                        self._note(f"{name}: drains with more than {system.max_procs} worker process "
                                   f"not measured ({system.max_procs_reason})")
                        continue
                    conc = system.tuned_concurrency if drain.tuned else system.default_concurrency
                    result = throughput.drain(target, drain.jobs, drain.procs, conc,
                                              self.logs("throughput", name, drain.label(), str(rep)),
                                              self.sizes.drain_limit[drain.jobs])
                    cell = out.setdefault(name, {}).setdefault(drain.label(), {"concurrency": conc,
                                                                               "repeats": []})
                    cell["repeats"].append(result)
        for cells in out.values():
            _summarise(cells)
        return out

    def run_enqueue(self) -> dict[str, Any]:
        variants: list[tuple[str, Target, list[str]]] = [(n, t, []) for n, t in self.targets.items()]
        if OURS in self.targets:
            triggers = ReportGenerator().notify_triggers(self.ours().url)
            variants.insert(1, (f"{OURS} (no NOTIFY trigger)", self.ours(), triggers))
        out: dict[str, Any] = {}
        s = self.sizes
        for _rep in range(s.repeats):
            for label, target, off in variants:
                set_notify(target.url, off, enabled=False)
                try:
                    cells = out.setdefault(label, {})
                    for key, fn in (("1 client", lambda t=target: enqueue.singles(t, 1, s.enqueue_duration)),
                                    (f"{s.enqueue_clients} clients",
                                     lambda t=target: enqueue.singles(t, s.enqueue_clients, s.enqueue_duration)),
                                    (f"batch {s.batch_size}",
                                     lambda t=target: enqueue.batches(t, s.batch_size, s.enqueue_duration))):
                        cells.setdefault(key, {"repeats": []})["repeats"].append(fn())
                finally:
                    set_notify(target.url, off, enabled=True)
        for cells in out.values():
            _summarise(cells)
        return out

    def run_scale(self) -> dict[str, Any]:
        target = self.ours()
        seeded = scale.seed_finished(target, self.sizes.scale_rows)
        repeats = []
        for rep in range(self.sizes.repeats):
            repeats.append(latency.measure(
                target, self.sizes.latency_jobs, self.sizes.latency_spacing, self.logs("scale", str(rep)),
                self.sizes.latency_limit, reset_first=False,
                during=lambda group: scale.scrape_metrics(group, self.sizes.scrapes)))
        return _summarise({OURS: {"rows": self.sizes.scale_rows, "seed_seconds": seeded,
                                  "repeats": repeats}})

    def run_web(self) -> dict[str, Any]:
        repeats = [web.run(self.ours(), self.sizes.web_clients, self.sizes.web_duration,
                           self.logs("web", str(rep))) for rep in range(self.sizes.repeats)]
        return {OURS: {"repeats": repeats,
                       "summary": {mode: merge_repeats([_numbers(r[mode]) for r in repeats])
                                   for mode in ("post", "get")}}}

    def run_poll(self) -> dict[str, Any]:
        result = poll.run(self.ours(), self.sizes.poll_jobs, self.sizes.poll_interval, self.logs("poll"))
        return {OURS: {"repeats": [result], "summary": merge_repeats([_numbers(result)])}}


def _numbers(result: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _summarise(cells: dict[str, Any]) -> dict[str, Any]:
    for cell in cells.values():
        cell["summary"] = merge_repeats([_numbers(r) for r in cell["repeats"]])
    return cells


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, report-generator alone")
    parser.add_argument("--systems", help="comma-separated subset of systems")
    parser.add_argument("--phases", help=f"comma-separated subset of {','.join(config.PHASES)}")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument("--keep-work", action="store_true", help="keep the server's data and worker logs")
    return parser.parse_args()


def main() -> int:
    args = _parse()
    cores = os.cpu_count() or 2
    sizes = config.smoke(cores) if args.smoke else config.full(cores)
    if args.repeats:
        sizes = config.Sizes(**{**sizes.__dict__, "repeats": args.repeats})
    phases = args.phases.split(",") if args.phases else list(config.PHASES)
    unknown = set(phases) - set(config.PHASES)
    if unknown:
        raise SystemExit(f"bench: unknown phases {sorted(unknown)}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    work = BENCH_DIR / ".work" / "runs" / f"{stamp}-{os.getpid()}"
    notes: list[str] = []
    runner = Runner(sizes, _systems(args, sizes, notes), work, phases)
    runner.results["notes"] = notes
    if OURS not in [s.name for s in runner.systems]:  # these phases measure report-generator alone
        phases = runner.phases = [p for p in phases if p not in ("scale", "web", "poll")]
    runner.results.update({"started_at": stamp, "mode": "smoke" if args.smoke else "full",
                           "machine": machine.facts(), "sizes": _sizes_dict(sizes)})
    started = time.monotonic()
    try:
        runner.start()
        for name in phases:
            runner.phase(name, getattr(runner, f"run_{name}"))
    finally:
        runner.server.stop()
        runner.results["machine"]["loadavg_end"] = machine.loadavg()
        runner.results["duration_s"] = time.monotonic() - started
        if not args.keep_work:
            shutil.rmtree(work / "pg", ignore_errors=True)
    out_dir = RESULTS_DIR / "tmp" if args.smoke or args.systems or args.phases else RESULTS_DIR
    paths = report.write(runner.results, out_dir, f"{'smoke-' if args.smoke else ''}{stamp}",
                         chart=not args.smoke, latest=out_dir == RESULTS_DIR)
    print(report.markdown(runner.results))
    print("bench: wrote " + ", ".join(str(p) for p in paths))
    if runner.results["errors"]:
        print("bench: FAILED phases:\n  " + "\n  ".join(runner.results["errors"]), file=sys.stderr)
        return 1
    return 0


def _sizes_dict(sizes: config.Sizes) -> dict[str, Any]:
    data = dict(sizes.__dict__)
    data["drains"] = [d.label() for d in sizes.drains]
    data["drain_limit"] = {str(k): v for k, v in sizes.drain_limit.items()}
    return data


if __name__ == "__main__":
    sys.exit(main())
