"""Soak: a steady mix for ``--minutes``, sampled over time: memory, pickup p99, the jobs table, errors.

    .venv/bin/python -m bench.soak [--minutes 30] [--pings-per-second 1000] [--runs-per-second 1]
                                   [--web-clients 1] [--web-rate 50] [--retention-minutes 2]
                                   [--sample-seconds 10] [--out FILE]

One worker and one web process at their defaults (except ``JOB_RETENTION_DAYS``, see below, and the run
quotas, off: one workspace stands for a fleet) on the bench's
durable PostgreSQL (fsync on). Load, each from its own thread or process:

- PINGs: the seed's SQL insert, in batches every 50 ms (``--pings-per-second`` in all, on a fixed schedule
  that catches up when it falls behind, so the rate is the rate asked for);
- report runs: ``POST /api/runs`` of the monthly sales example (``--runs-per-second``), each one a render
  and a PDF export in the worker;
- the web: ``bench/webload.py`` in GET mode, ``--web-clients`` clients reading jobs at ``--web-rate``
  requests per second in all (0: closed-loop, as fast as they can). Paced, not closed-loop: one
  closed-loop client did 239 requests/s and with the web kept a core of the two busy by itself, which
  measures the machine's CPU share, not whether the worker and web stay flat under a steady load.

Every ``--sample-seconds``: the RSS of the worker and the web (and of their render children apart), the
pickup p50/p99 of the PINGs that finished in the window (enqueue → handler entry, one clock: a queue
that falls behind shows as a growing pickup), the queue
depth, the jobs table's rows and bytes, and errors (FAILED jobs, failed runs, HTTP errors). The jobs table
can only stay flat if finished jobs are pruned as fast as they come: at 1,000 jobs/s the default retention
(14 days) would keep 1.2 billion rows, so the soak sets ``JOB_RETENTION_DAYS`` to ``--retention-minutes``.

The summary compares the last third of the samples with the middle third (after a warm-up third): memory
within ±10 %, pickup p99 and table size flat, zero errors. ``python -m bench.chart FILE.json FILE.png``
(in the bench venv, which has matplotlib) draws the four series over time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.cpu_per_job import TICKS, machine_busy_seconds
from bench.machine import facts, loadavg
from bench.server import BenchServer
from tests.support.accounts import api_token
from tests.support.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
PING_BATCH = ("INSERT INTO jobs (workspace_id, type, status, payload) "
              f"SELECT '{WORKSPACE}', 'PING', 'QUEUED', '{{}}' FROM generate_series(1, %(n)s)")
TICK_SECONDS = 0.05


@dataclass
class Counters:
    pings: int = 0
    runs: int = 0
    http_errors: int = 0
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, text: str) -> None:
        with self.lock:
            self.http_errors += 1
            self.last_error = text[:300]


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0




def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of ``pid`` itself and of its children: the reaped ones (one-use render and PDF processes)
    and its live zygotes, with the children they have forked and reaped (``common.reports.zygote``)."""
    own, reaped = _ticks(pid)
    zygotes = [z for z in _children_of(pid) if b"common.reports.zygote" in _cmdline(z)]
    return own / TICKS, (reaped + sum(sum(_ticks(z)) for z in zygotes)) / TICKS


def _ticks(pid: int) -> tuple[int, int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return 0, 0
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def children_rss(parent: int) -> int:
    """RSS of ``parent``'s children and of its zygotes' children (shared pages counted in each)."""
    total = 0
    for pid in _children_of(parent):
        total += rss_bytes(pid)
        if b"common.reports.zygote" in _cmdline(pid):
            total += sum(rss_bytes(grandchild) for grandchild in _children_of(pid))
    return total


def ping_producer(url: str, rate: float, stop: threading.Event, counters: Counters) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate) - counters.pings
            if due > 0:
                conn.execute(PING_BATCH, {"n": due})
                counters.pings += due
            stop.wait(TICK_SECONDS)


def run_producer(base_url: str, token: str, template: dict[str, Any], rate: float, stop: threading.Event,
                 counters: Counters) -> None:
    parameters = {p["name"]: p["default"] for p in template["parameters"] if p.get("default") is not None}
    parameters.update(template.get("sample_datasets") or {})
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as api:
        started = time.monotonic()
        while not stop.is_set():
            if (time.monotonic() - started) * rate >= counters.runs:
                counters.runs += 1
                try:
                    answer = api.post("/api/runs", json={"template_id": template["id"], "parameters": parameters})
                    if answer.status_code != 201:
                        counters.error(f"POST /api/runs {answer.status_code} {answer.text}")
                except httpx.HTTPError as exc:
                    counters.error(f"POST /api/runs: {exc!r}")
            stop.wait(0.01)


SAMPLE_SQL = """
SELECT
  (SELECT count(*) FROM jobs) AS rows,
  pg_total_relation_size('jobs') AS bytes,
  (SELECT count(*) FROM jobs WHERE status = 'QUEUED' AND run_at <= now()) AS queued,
  (SELECT count(*) FROM jobs WHERE status = 'FAILED') AS failed_jobs,
  (SELECT count(*) FROM runs WHERE status = 'FAILED') AS failed_runs,
  (SELECT count(*) FROM runs WHERE status = 'COMPLETED') AS completed_runs
"""
PICKUP_SQL = """
SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM
         (result->>'handler_started_at')::timestamptz - created_at)) AS p, count(*) AS n
FROM jobs WHERE status = 'COMPLETED' AND completed_at >= to_timestamp(%(since)s) AND type = 'PING'
"""


def sample(url: str, since: float, worker: int, web: int, counters: Counters, t0: float) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(SAMPLE_SQL).fetchone()
        pickup = conn.execute(PICKUP_SQL, {"since": since}).fetchone()
    assert row is not None and pickup is not None
    p50, p99 = (pickup[0] or [None, None])
    worker_cpu, web_cpu = cpu_seconds(worker), cpu_seconds(web)
    return {"t": round(time.time() - t0, 1), "worker_rss": rss_bytes(worker), "web_rss": rss_bytes(web),
            "worker_children_rss": children_rss(worker), "web_children_rss": children_rss(web),
            "pickup_p50_ms": p50 * 1000 if p50 is not None else None,
            "pickup_p99_ms": p99 * 1000 if p99 is not None else None, "pickups": pickup[1],
            "rows": row[0], "bytes": row[1], "queued": row[2], "failed_jobs": row[3], "failed_runs": row[4],
            "completed_runs": row[5], "pings_enqueued": counters.pings, "runs_posted": counters.runs,
            "http_errors": counters.http_errors, "last_http_error": counters.last_error, "load": loadavg()[0],
            # cumulative CPU seconds: differences between samples give each part's share of the 2 cores
            "cpu_worker": worker_cpu[0], "cpu_worker_children": worker_cpu[1], "cpu_web": web_cpu[0],
            "cpu_web_children": web_cpu[1], "cpu_machine": machine_busy_seconds()}


def _start(module: str, url: str, port: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    full = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT), **env}
    with open(logs / f"{module}.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=full, stdout=log,
                                stderr=subprocess.STDOUT)


def _example(base_url: str, token: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as api:
        def find() -> str | None:
            for template in api.get("/api/templates").json()["templates"]:
                if template.get("example_slug") == "monthly_sales":
                    return str(template["id"])
            return None
        ident = wait_for(find, timeout=60, interval=0.2, message="the monthly sales example")
        return dict(api.get(f"/api/templates/{ident}").json())


def soak(args: argparse.Namespace) -> dict[str, Any]:
    machine = facts()  # its load average now, at the start
    work = Path(tempfile.mkdtemp(prefix="rg-soak-"))
    server = BenchServer(work / "pg")
    server.start()
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    try:
        url = server.create_database("soak")
        subprocess.run([sys.executable, "-m", "common.migrate"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)})
        # One workspace stands for a fleet here: its run quotas (60/min, 50 active) would refuse the load itself.
        env = {"JOB_RETENTION_DAYS": repr(args.retention_minutes / 1440), "QUOTA_RUNS_PER_MINUTE": "0",
               "QUOTA_ACTIVE_RUNS": "0"}
        web_port = free_port()
        worker = _start("worker", url, free_port(), env, work)
        web = _start("web", url, web_port, env, work)
        procs += [worker, web]
        base_url = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: _healthy(base_url), timeout=60, interval=0.2, message="the web to answer")
        token = api_token(url, "admin")
        template = _example(base_url, token)
        counters = Counters()
        threads = [threading.Thread(target=ping_producer, args=(url, args.pings_per_second, stop, counters)),
                   threading.Thread(target=run_producer,
                                    args=(base_url, token, template, args.runs_per_second, stop, counters))]
        for thread in threads:
            thread.start()
        t0 = time.time()
        duration = args.minutes * 60
        samples: list[dict[str, Any]] = []
        load: subprocess.Popen[bytes] | None = None
        while time.time() - t0 < duration:
            since = time.time()
            stop.wait(args.sample_seconds)
            samples.append(sample(url, since, worker.pid, web.pid, counters, t0))
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
            if args.web_clients and load is None:  # after the first window: there are jobs to read
                load = _webload(url, web_port, token, args.web_clients, args.web_rate,
                                duration - (time.time() - t0), work)
                procs.append(load)
        stop.set()
        for thread in threads:
            thread.join(30)
        webload = json.loads((work / "webload.json").read_text()) if load is not None and _finish(load) else None
        exits = {"worker": worker.poll(), "web": web.poll()}  # None: still running, as they should be
    finally:
        stop.set()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
    settings = {k: getattr(args, k) for k in ("minutes", "pings_per_second", "runs_per_second", "web_clients",
                                              "web_rate", "retention_minutes", "sample_seconds")}
    return {"soak": True, "settings": settings, "machine": {**machine, "loadavg_end": loadavg()},
            "samples": samples, "webload": webload, "exits_during_soak": exits, "summary": summarize(samples)}


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _webload(url: str, port: int, token: str, clients: int, rate: float, duration: float,
             work: Path) -> subprocess.Popen[bytes]:
    # Jobs for it to read that neither run nor get pruned during the soak: PINGs due in a day.
    with psycopg.connect(url) as conn:
        ids = [str(i) for (i,) in conn.execute(
            "INSERT INTO jobs (workspace_id, type, status, payload, run_at) SELECT %s, 'PING', 'QUEUED', '{}', "
            "now() + interval '1 day' FROM generate_series(1, 200) RETURNING id", (WORKSPACE,)).fetchall()]
    (work / "ids.json").write_text(json.dumps({"ids": ids}))
    return subprocess.Popen([sys.executable, "-m", "bench.webload", "--port", str(port), "--mode", "get",
                             "--clients", str(clients), "--duration", str(duration), "--ids", str(work / "ids.json"),
                             *(["--rate", str(rate)] if rate else []),
                             "--out", str(work / "webload.json")], cwd=ROOT,
                            env={**os.environ, "REPORTGEN_API_TOKEN": token, "PYTHONPATH": str(ROOT)})


def _finish(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return proc.wait(60) == 0
    except subprocess.TimeoutExpired:
        return False


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Middle third (after warm-up) against the last third: drift in % for each series, and errors."""
    third = max(1, len(samples) // 3)
    middle, last = samples[third:2 * third], samples[2 * third:]
    out: dict[str, Any] = {"samples": len(samples)}
    for key in ("worker_rss", "web_rss", "pickup_p99_ms", "rows", "bytes", "queued"):
        a = [s[key] for s in middle if s[key] is not None]
        b = [s[key] for s in last if s[key] is not None]
        if a and b:
            base = statistics.median(a)
            out[key] = {"middle": base, "last": statistics.median(b), "max": max(s[key] for s in samples if s[key]
                                                                                 is not None),
                        "drift_pct": round((statistics.median(b) - base) / base * 100, 1) if base else None}
    final = samples[-1] if samples else {}
    out["errors"] = {k: final.get(k) for k in ("failed_jobs", "failed_runs", "http_errors")}
    out["pings_enqueued"], out["runs_posted"] = final.get("pings_enqueued"), final.get("runs_posted")
    out["completed_runs"] = final.get("completed_runs")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--pings-per-second", type=float, default=1000.0)
    parser.add_argument("--runs-per-second", type=float, default=1.0)
    parser.add_argument("--web-clients", type=int, default=1)
    parser.add_argument("--web-rate", type=float, default=50.0)
    parser.add_argument("--retention-minutes", type=float, default=2.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    results = soak(args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out or ROOT / "bench" / "results" / f"soak-{stamp}.json")
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["summary"], indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
