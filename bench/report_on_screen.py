"""Click "Run" → report on screen, per shipped example: the warm render pool against a fresh interpreter per render.

    .venv/bin/python -m bench.report_on_screen [--repeats 20] [--mode api|browser|both] [--before DIR]
                                               [--out bench/results/report_on_screen-<time>.json]

Systems, each a worker and a web process on its own database of one embedded PostgreSQL (fsync off, like
tests/acceptance/measure_run_latency.py, so that the disk of a shared machine stays out of it):

- ``pool``: this checkout at its defaults (``RENDER_POOL_SIZE=2``);
- ``no pool``: this checkout with ``RENDER_POOL_SIZE=0``, a fresh interpreter per render;
- ``no hold``: this checkout with ``RUN_PAGE_WAIT_SECONDS=0``: the form's redirect at once, the report
  then through the run page's EventSource (as before 2026-12-04);
- ``before`` (with ``--before DIR``): another checkout, e.g. ``git archive main | tar -x -C DIR``.

Samples are interleaved (every round visits every system and example, in a shuffled order), so the load of
a shared machine falls on all systems alike. Each sample starts on an idle system: the previous run's PDF
export has finished and a pool system has its warm children back. The first sample of each system and
example is a warm-up and not counted.

- ``api``: ``POST /api/runs`` → Server-Sent Events until COMPLETED → ``GET /api/runs/{id}/report?format=html``.
  Phases from the database, on the same clock: the POST until the run row, pickup (row → job claimed), the
  handler until its render starts, the render (the job's ``render_ms``), the rest of the handler, the
  SSE delivery, the report's GET.
- ``browser``: Chromium opens the run form, clicks Run, and the clock stops when the report's chart is in
  the page (form POST, redirect, page, EventSource or none, fragment fetch or none, paint). ``ms`` is Playwright's clock
  (``click()`` → ``wait_for_selector`` found it: it includes the harness's own round trips to the browser,
  its actionability checks and polling); ``total_page`` is the page's own clock, from the click event to the
  frame after the chart entered the DOM. Phases from the page (``bench/page_timing.js``, an init script that
  only observes, so a ``--before`` checkout is measured the same way, plus Navigation Timing): the click
  until the navigation starts, the form POST and its 303, the run page's GET, the page until it opens the
  EventSource (parse, CSS, ``run.js``), the stream's open, until the COMPLETED event, until the chart is in
  the DOM (the fragment fetch, or none), until the next frame; and from the database, when the run row was
  made and when the worker finished, both from the click. With the form submitted in place
  (``web/static/run_form.js``, since 2026-12-04) there is no navigation: the click until the POST's answer
  (``fetch_answer``: the hold, the 303, the run page's GET), then its body until the chart is in the DOM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from bench.machine import facts, loadavg
from bench.stats import percentile
from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from tests.support.accounts import api_token, sign_in_browser
from tests.support.processes import free_port, wait_for
from tests.support.render_processes import render_processes

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
EXAMPLES = ("monthly_sales", "support_tickets", "web_traffic")
@dataclass
class System:
    name: str
    checkout: Path
    database_url: str
    env: dict[str, str]
    pool_size: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = ""
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, logs: Path) -> None:
        for module in ("web", "worker"):
            port = self.port if module == "web" else free_port()
            env = {**os.environ, "DATABASE_URL": self.database_url, "PORT": str(port), "LOG_LEVEL": "WARNING",
                   "PYTHONPATH": str(self.checkout), **self.env}
            with open(logs / f"{self.name.replace(' ', '-')}-{module}.log", "wb") as log:
                self.processes[module] = subprocess.Popen([sys.executable, "-m", module], cwd=self.checkout,
                                                          env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._healthy, timeout=60, interval=0.2, message=f"{self.name}: web to answer")
        self.token = api_token(self.database_url, "admin")
        with self.client() as api:
            def examples() -> dict[str, dict[str, Any]] | None:
                found = {t["example_slug"]: t for t in api.get("/api/templates").json()["templates"]
                         if t.get("example_slug") in EXAMPLES}
                return found if len(found) == len(EXAMPLES) else None
            listed = wait_for(examples, timeout=60, interval=0.2, message=f"{self.name}: the examples")
            assert listed is not None
            self.templates = {slug: api.get(f"/api/templates/{t['id']}").json() for slug, t in listed.items()}

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60, headers={"Authorization": f"Bearer {self.token}"})

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def wait_idle(self, run_id: str | None) -> None:
        """The previous run's PDF export done and, with a pool, the worker's warm children back."""
        if run_id is not None:
            wait_for(lambda: _export_done(self.database_url, run_id), timeout=120, interval=0.05,
                     message=f"{self.name}: the PDF export of run {run_id}")
        if self.pool_size:
            wait_for(lambda: len(_render_children(self.processes["worker"].pid)) >= self.pool_size, timeout=60,
                     interval=0.02, message=f"{self.name}: the pool to refill")


def _export_done(url: str, run_id: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE status IN ('QUEUED', 'IN_PROGRESS')) AS busy, "
                           "count(*) AS n FROM jobs WHERE type = 'EXPORT' AND payload->>'run_id' = %s",
                           (run_id,)).fetchone()
    return row is not None and row[1] > 0 and row[0] == 0


def _render_children(parent: int) -> list[int]:
    return list(render_processes(parent))  # fresh children and a zygote's forked ones


def _parameters(template: dict[str, Any]) -> dict[str, Any]:
    values = {p["name"]: p["default"] for p in template["parameters"] if p.get("default") is not None}
    values.update(template.get("sample_datasets") or {})
    return values


def api_sample(system: System, slug: str) -> tuple[float, dict[str, float], str]:
    """Seconds from POST /api/runs to the report's HTML in hand, its phases (ms), and the run id."""
    template = system.templates[slug]
    with system.client() as api:
        posted = time.time()
        created = api.post("/api/runs", json={"template_id": template["id"], "parameters": _parameters(template)})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        with api.stream("GET", f"/api/runs/{run_id}/events") as events:
            event = ""
            for line in events.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "run":
                    status = json.loads(line[6:])["status"]
                    if status not in ("QUEUED", "IN_PROGRESS"):
                        assert status == "COMPLETED", line
                        break
        seen = time.time()
        report = api.get(f"/api/runs/{run_id}/report", params={"format": "html"})
        done = time.time()
        assert report.status_code == 200 and "<svg" in report.text, report.status_code
    return done - posted, _phases(system.database_url, run_id, posted, seen, done), run_id


def _phases(url: str, run_id: str, posted: float, seen: float, done: float) -> dict[str, float]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM r.created_at) AS created, extract(epoch FROM j.started_at) AS claimed, "
            "extract(epoch FROM r.started_at) AS handler, extract(epoch FROM r.completed_at) AS completed, "
            "(j.result->>'render_ms')::float AS render_ms FROM runs r JOIN jobs j ON j.id = r.job_id "
            "WHERE r.id = %s", (run_id,)).fetchone()
    assert row is not None
    created, claimed, handler, completed = (float(row[k]) for k in ("created", "claimed", "handler", "completed"))
    render = float(row["render_ms"]) if row["render_ms"] is not None else float("nan")
    ms = 1000.0
    return {"post_to_row": (created - posted) * ms, "pickup": (claimed - created) * ms,
            "claim_to_handler": (handler - claimed) * ms, "render": render,
            "handler_rest": (completed - handler) * ms - render, "sse_delivery": (seen - completed) * ms,
            "report_get": (done - seen) * ms}


PAGE_TIMING = (Path(__file__).parent / "page_timing.js").read_text()
# Browser phases, in order; each is the time from the previous mark (ms), from the page's own clocks:
BROWSER_PHASES = ("click_to_nav", "post_303", "page_get", "fetch_answer", "page_to_stream", "stream_open",
                  "wait_completed", "completed_to_dom", "dom_to_paint")


class Browser:
    def __init__(self, stack: ExitStack, systems: list[System]) -> None:
        from playwright.sync_api import sync_playwright

        from tests.acceptance.test_browser import launch

        playwright = stack.enter_context(sync_playwright())
        self.browser = launch(playwright)
        stack.callback(self.browser.close)
        self.pages = {}
        for system in systems:
            context = self.browser.new_context()
            context.add_init_script(PAGE_TIMING)
            sign_in_browser(context, system.base_url, system.database_url, role="admin")
            self.pages[system.name] = context.new_page()

    def sample(self, system: System, slug: str) -> tuple[float, str, dict[str, Any]]:
        """Seconds from the click to the chart in the page (Playwright's clock), the run id, the phases."""
        page = self.pages[system.name]
        page.goto(f"{system.base_url}/templates/{system.templates[slug]['id']}/run")
        started = time.perf_counter()
        page.click("#run-button")
        page.wait_for_selector("#run[data-report=shown] #report svg", timeout=60_000)
        elapsed = time.perf_counter() - started  # as before the page's marks: comparable with earlier runs
        page.wait_for_function("() => window.__rosMarks && window.__rosMarks.painted", timeout=10_000)
        run_id = str(page.get_attribute("#run", "data-run-id"))
        phases = _browser_phases(page.evaluate(_READ_MARKS), system.database_url, run_id)
        return elapsed, run_id, {**phases, **self.floors(system, slug, run_id)}

    def floors(self, system: System, slug: str, run_id: str) -> dict[str, float]:
        """What Playwright's clock costs without our work, on the same form page and the same click:

        - ``harness_floor``: the click's listener puts the selector's element in the page at once (no
          request, no navigation): Playwright's own round trips, actionability checks and polling;
        - ``navigation_floor``: the listener navigates to the run just made, finished (its page has the
          report in it): the floor of any design that shows the report on a new page.
        """
        page, out = self.pages[system.name], {}
        for name, action in (("harness_floor", _SHOW_AT_ONCE), ("navigation_floor", _GO_TO_RUN)):
            page.goto(f"{system.base_url}/templates/{system.templates[slug]['id']}/run")
            page.evaluate(action, run_id)
            started = time.perf_counter()
            page.click("#run-button")
            page.wait_for_selector("#run[data-report=shown] #report svg", timeout=60_000)
            out[name] = (time.perf_counter() - started) * 1000
        return out


_SHOW_AT_ONCE = """() => document.getElementById("run-button").addEventListener("click", (e) => {
  e.preventDefault();
  document.body.insertAdjacentHTML("beforeend",
    '<div id="run" data-report="shown"><div id="report"><svg width="10" height="10"></svg></div></div>');
}, true)"""
_GO_TO_RUN = """(runId) => document.getElementById("run-button").addEventListener("click", (e) => {
  e.preventDefault();
  location.assign("/runs/" + runId);
}, true)"""


_READ_MARKS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource").map(r => ({name: r.name, start: r.startTime,
    end: r.responseEnd, initiator: r.initiatorType, size: r.transferSize}));
  return {click: Number(sessionStorage.getItem("rosClick")), origin: performance.timeOrigin,
          redirectStart: n.redirectStart, redirectEnd: n.redirectEnd, fetchStart: n.fetchStart,
          requestStart: n.requestStart, responseStart: n.responseStart, responseEnd: n.responseEnd,
          domContentLoaded: n.domContentLoadedEventStart, redirects: n.redirectCount, resources,
          ...window.__rosMarks};
}"""


def _browser_phases(m: dict[str, Any], url: str, run_id: str) -> dict[str, Any]:
    """Per-phase ms from the page's marks (epoch ms) and Navigation Timing (ms from the navigation's start).

    ``wait_completed`` is the stream's open until the COMPLETED event; ``completed_to_dom`` the fragment
    fetch (or none) until the chart is in the DOM. With the form submitted in place (``run_form.js``) there
    is no navigation: ``fetch_answer`` is the click until the POST's answer (the hold, the 303 and the run
    page's GET) and ``completed_to_dom`` its body until the chart is in the DOM (read, parse, swap).
    A mark the page never set (e.g. no stream, because the report came in the page itself) makes its phase 0
    and the next phase start from the previous mark.
    ``run_done_at`` (from the database, on the same clock) says when the worker had finished, from the click.
    """
    origin = float(m["origin"])
    navigated = origin >= float(m["click"])  # else the form's answer was swapped into the form's own page
    nav = {"nav": origin, "post_done": origin + float(m["redirectEnd"] or m["fetchStart"]),
           "page_done": origin + float(m["responseEnd"])} if navigated else {}
    marks = [("click_to_nav", nav.get("nav")), ("post_303", nav.get("post_done")), ("page_get", nav.get("page_done")),
             ("fetch_answer", m.get("fetch_answer")),
             ("page_to_stream", m.get("es_new")), ("stream_open", m.get("es_open")),
             ("wait_completed", m.get("completed_event")), ("completed_to_dom", m.get("in_dom")),
             ("dom_to_paint", m.get("painted"))]
    out: dict[str, float] = {}
    previous = float(m["click"])
    for name, at in marks:
        if at is None:
            out[name] = 0.0
            continue
        out[name] = float(at) - previous
        previous = float(at)
    out["total_page"] = previous - float(m["click"])
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT extract(epoch FROM created_at), extract(epoch FROM completed_at) FROM runs "
                           "WHERE id = %s", (run_id,)).fetchone()
    assert row is not None
    out["run_created_at"] = float(row[0]) * 1000 - float(m["click"])
    out["run_done_at"] = float(row[1]) * 1000 - float(m["click"])
    return {**out, "resources": m["resources"]}  # kept in the JSON, left out of the summary


def _create_database(server: EmbeddedPostgres, name: str) -> str:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.url.rpartition("/")
    return f"{base}/{name}"


def _migrate(system: System) -> None:
    subprocess.run([sys.executable, "-m", "common.migrate"], cwd=system.checkout, check=True,
                   env={**os.environ, "DATABASE_URL": system.database_url, "PYTHONPATH": str(system.checkout)},
                   stdout=subprocess.DEVNULL)


def run(args: argparse.Namespace) -> dict[str, Any]:
    machine = facts()  # its load average now, at the start
    specs = [("pool", ROOT, {}, 2), ("no pool", ROOT, {"RENDER_POOL_SIZE": "0"}, 0),
             ("no hold", ROOT, {"RUN_PAGE_WAIT_SECONDS": "0"}, 2)]
    if args.before:
        specs.append(("before", Path(args.before).resolve(), {}, args.before_pool))
    specs = [spec for spec in specs if spec[0] in args.systems.split(",")]
    modes = ["api", "browser"] if args.mode == "both" else [args.mode]
    samples: dict[str, dict[str, dict[str, list[Any]]]] = {
        mode: {name: {slug: [] for slug in EXAMPLES} for name, *_ in specs} for mode in modes}
    with ExitStack() as stack:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rg-ros-pg-")), settings=dict(FAST_UNSAFE_SETTINGS))
        server.start()
        stack.callback(server.stop)
        logs = Path(tempfile.mkdtemp(prefix="rg-ros-logs-"))
        systems = []
        for index, (name, checkout, env, pool) in enumerate(specs):
            system = System(name, checkout, _create_database(server, f"ros_{index}"), env, pool)
            _migrate(system)
            stack.callback(system.stop)
            system.start(logs)
            systems.append(system)
        browser = Browser(stack, systems) if "browser" in modes else None
        last: dict[str, str | None] = {s.name: None for s in systems}
        for number in range(args.repeats + 1):
            order = [(mode, system, slug) for mode in modes for system in systems for slug in EXAMPLES]
            random.shuffle(order)
            for mode, system, slug in order:
                system.wait_idle(last[system.name])
                if mode == "api":
                    seconds, phases, run_id = api_sample(system, slug)
                else:
                    assert browser is not None
                    seconds, run_id, phases = browser.sample(system, slug)
                last[system.name] = run_id
                if number:  # round 0 warms every system, example and the browser
                    samples[mode][system.name][slug].append({"ms": seconds * 1000, **phases})
            print(f"round {number}/{args.repeats} done, load {loadavg()}", file=sys.stderr, flush=True)
    return {"machine": {**machine, "loadavg_end": loadavg()}, "repeats": args.repeats,
            "started": args.started, "samples": samples, "summary": summarize(samples)}


def summarize(samples: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, systems in samples.items():
        for name, examples in systems.items():
            for slug, rows in examples.items():
                if not rows:
                    continue
                cell = {"p50": percentile([r["ms"] for r in rows], 50), "p90": percentile([r["ms"] for r in rows], 90),
                        "n": len(rows)}
                for phase in (k for k, v in rows[0].items() if k != "ms" and isinstance(v, float)):
                    cell[f"{phase}_p50"] = percentile([r[phase] for r in rows], 50)
                out.setdefault(mode, {}).setdefault(name, {})[slug] = cell
            pooled = [r for rows in examples.values() for r in rows]
            if pooled:
                out.setdefault("all samples", {}).setdefault(mode, {})[name] = {
                    key: {"p50": percentile([r[key] for r in pooled], 50),
                          "p90": percentile([r[key] for r in pooled], 90), "n": len(pooled)}
                    for key in ("ms", "total_page", "harness_floor", "navigation_floor") if key in pooled[0]}
    return out


def table(summary: dict[str, Any]) -> str:
    lines = []
    for mode, systems in summary.items():
        if mode == "all samples":
            lines.append("\nall samples pooled, p50 / p90 ms (ms: Playwright's click → selector found; "
                         "total_page: the click event → the frame after the chart, page clock)\n")
            for pooled_mode, by_system in systems.items():
                for name, cells in by_system.items():
                    lines.append(f"- {pooled_mode} {name}: " + "; ".join(
                        f"{key} {c['p50']:.0f} / {c['p90']:.0f} (n={c['n']})" for key, c in cells.items()))
            continue
        lines.append(f"\n{mode}: p50 / p90 ms\n")
        lines.append("| system | " + " | ".join(EXAMPLES) + " |")
        lines.append("|---|" + "---|" * len(EXAMPLES))
        for name, cells in systems.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{cells[s]['p50']:.0f} / {cells[s]['p90']:.0f}" if s in cells else "-" for s in EXAMPLES) + " |")
        phases = [k[:-4] for k in next(iter(next(iter(systems.values())).values())) if k.endswith("_p50")]
        if phases:
            lines.append(f"\n{mode} phases, p50 ms (all examples pooled per system: median of per-example p50s)\n")
            lines.append("| system | " + " | ".join(phases) + " |")
            lines.append("|---|" + "---|" * len(phases))
            for name, cells in systems.items():
                lines.append(f"| {name} | " + " | ".join(
                    f"{sorted(c[f'{p}_p50'] for c in cells.values())[len(cells) // 2]:.1f}" for p in phases) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--mode", choices=["api", "browser", "both"], default="both")
    parser.add_argument("--before", default=None, help="a checkout to measure as 'before' (e.g. main's tree)")
    parser.add_argument("--before-pool", type=int, default=0, help="RENDER_POOL_SIZE of the 'before' checkout")
    parser.add_argument("--systems", default="pool,no pool,before", help="which of them to measure")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    args.started = datetime.now().astimezone().isoformat(timespec="seconds")
    results = run(args)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out or ROOT / "bench" / "results" / f"report_on_screen-{stamp}.json")
    out.write_text(json.dumps(results, indent=1))
    print(table(results["summary"]))
    print(f"\nload average {results['machine']['loadavg_start']} → {results['machine']['loadavg_end']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
