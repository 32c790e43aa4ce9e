"""What one render or PDF child costs before its job: ``python -m bench.child_start [--repeats 20] [--before DIR]``.

Every report run starts a fresh render child and a fresh PDF child (one job per process: the sandbox), so
their start-up (interpreter, imports, warm-up, limits, ``ready``) is paid once per report, in CPU, even when
the warm pools hide its latency. This starts each child as the pools do (``common.reports.child.spawn``'s
command line, clean environment, own session) from this checkout and, with ``--before``, from another one
(e.g. ``git archive <ref> | tar -x -C DIR``), interleaved; waits for ``ready``, closes its stdin (no job:
it exits at once) and reads the child's own CPU time (user + system, ``os.wait4``) and the wall time to
``ready``. Reported: median and p90 per tree and child, and after ÷ before.

``forked`` is what the pools do since 2026-12-04: a child forked from this checkout's prepared zygote
(``common.reports.zygote``). Its CPU is the child's own time on CPU until ``ready`` (``/proc/<pid>/schedstat``,
nanoseconds) plus the zygote's for that fork (its schedstat before and after), the wall time from the
request to ``ready``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.machine import loadavg
from common.reports.child import READY, command, environment
from common.reports.zygote_client import Zygote

ROOT = Path(__file__).resolve().parents[1]
CHILDREN = {"render": ("common.reports.render_child", "536870912", "10.0"),
            "pdf": ("common.reports.pdf_child", "335544320", "60.0")}


def start_once(tree: Path, which: str) -> tuple[float, float]:
    """(CPU seconds of the child, wall seconds to its ready line) for one child started from ``tree``."""
    module, *args = CHILDREN[which]
    started = time.perf_counter()
    # child.spawn's command line and environment, but in ``tree``: `-m` imports the tree's own `common`.
    proc = subprocess.Popen([*command(module), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=tree, env=environment(), start_new_session=True)
    assert proc.stdout is not None and proc.stdin is not None
    got = proc.stdout.read(len(READY))
    ready = time.perf_counter() - started
    if got != READY:
        proc.kill()
        raise RuntimeError(f"{which} child from {tree} did not get ready: {got!r}")
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    return usage.ru_utime + usage.ru_stime, ready


def _on_cpu_seconds(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def fork_once(zygote: Zygote, which: str) -> tuple[float, float]:
    """(CPU seconds of the child and of the zygote's fork, wall seconds to ready) for one forked child."""
    _, *args = CHILDREN[which]
    assert zygote.pid is not None
    before = _on_cpu_seconds(zygote.pid)
    started = time.perf_counter()
    forked = zygote.fork(tuple(args))
    assert forked is not None
    got = forked.stdout.read(len(READY))
    ready = time.perf_counter() - started
    if got != READY:
        raise RuntimeError(f"forked {which} child did not get ready: {got!r}")
    cpu = _on_cpu_seconds(forked.pid) + _on_cpu_seconds(zygote.pid) - before
    forked.communicate(timeout=10)  # no job: it exits
    return cpu, ready


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
    zygotes = {which: Zygote(module) for which, (module, *_) in CHILDREN.items()}
    for zygote in zygotes.values():
        assert zygote.start(60), "a zygote did not start"
    names = [*trees, "forked"]
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        t: {c: {"cpu": [], "ready": []} for c in CHILDREN} for t in names}

    def once(name: str, which: str) -> tuple[float, float]:
        return fork_once(zygotes[which], which) if name == "forked" else start_once(trees[name], which)
    load_start = loadavg()
    try:
        for which in CHILDREN:  # one warm-up each (page cache), not counted
            for name in names:
                once(name, which)
        for _ in range(args.repeats):
            for which in CHILDREN:
                for name in names:
                    cpu, ready = once(name, which)
                    samples[name][which]["cpu"].append(cpu)
                    samples[name][which]["ready"].append(ready)
    finally:
        for zygote in zygotes.values():
            zygote.close()
    result: dict[str, Any] = {"repeats": args.repeats, "load_start": load_start, "load_end": loadavg(),
                              "trees": {n: str(t) for n, t in trees.items()}, "children": {}}
    print(f"child start-up, {args.repeats} interleaved repeats, load {load_start} -> {result['load_end']}")
    print("| child | tree | CPU p50 ms | CPU p90 ms | ready p50 ms | ready p90 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for which in CHILDREN:
        result["children"][which] = {}
        for name in names:
            cpu, ready = _summary(samples[name][which]["cpu"]), _summary(samples[name][which]["ready"])
            result["children"][which][name] = {"cpu_seconds": cpu, "ready_seconds": ready}
            print(f"| {which} | {name} | {cpu['p50'] * 1000:.0f} | {cpu['p90'] * 1000:.0f} | "
                  f"{ready['p50'] * 1000:.0f} | {ready['p90'] * 1000:.0f} |")
        if "before" in trees:
            ratio = (result["children"][which]["after"]["cpu_seconds"]["p50"]
                     / result["children"][which]["before"]["cpu_seconds"]["p50"])
            result["children"][which]["cpu_p50_after_over_before"] = ratio
            print(f"| {which} | after ÷ before, CPU p50 | {ratio:.2f} | | | |")
        forked = (result["children"][which]["forked"]["cpu_seconds"]["p50"]
                  / result["children"][which]["after"]["cpu_seconds"]["p50"])
        result["children"][which]["cpu_p50_forked_over_fresh"] = forked
        print(f"| {which} | forked ÷ fresh (after), CPU p50 | {forked:.3f} | | | |")
    out = ROOT / "bench" / "results" / f"child-start-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
