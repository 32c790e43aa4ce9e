"""Click "Run" to report on screen, in a real browser, for the shipped monthly sales example.

    .venv/bin/python -m tests.acceptance.measure_run_latency [--runs 20] [--base-url http://127.0.0.1:8000]

Without ``--base-url`` it starts its own embedded PostgreSQL, one worker and one web process (defaults:
poll 5 s, so pickups ride the NOTIFY). Each sample opens the run form, clicks Run, and stops the clock
when the report's chart is in the page: form POST, run + job insert, NOTIFY, claim, sandboxed render
(a fresh child interpreter), store, SSE event, fragment fetch, paint. Prints each sample and the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from common.migrate import migrate
from tests.acceptance.test_browser import launch
from tests.support.accounts import session_cookie
from tests.support.processes import Service, wait_for

WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"


def _start_system(stack: ExitStack) -> tuple[str, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="rg-latency-pg-"))
    server = EmbeddedPostgres(data_dir, settings=dict(FAST_UNSAFE_SETTINGS))
    server.start()
    stack.callback(server.stop)
    migrate(server.url, WORKSPACE)
    logs = Path(tempfile.mkdtemp(prefix="rg-latency-logs-"))
    worker = Service("worker", server.url, env={"LOG_LEVEL": "WARNING"}, log_dir=logs).start()
    stack.callback(worker.stop)
    web = Service("web", server.url, env={"LOG_LEVEL": "WARNING"}, log_dir=logs).start()
    stack.callback(web.stop)
    return web.base_url, server.url


def _sample_template(base_url: str, cookie: str) -> str:
    def find() -> str | None:
        answer = httpx.get(f"{base_url}/api/templates", timeout=5, cookies={"rg_session": cookie})
        for template in answer.json()["templates"]:
            if template.get("example_slug") == "monthly_sales":
                return str(template["id"])
        return None
    return wait_for(find, timeout=30, interval=0.2, message="the monthly sales example")


def measure(base_url: str, database_url: str, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    cookie = session_cookie(database_url, "editor")
    template_id = _sample_template(base_url, cookie)
    samples: list[float] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context()
        context.add_cookies([{"name": "rg_session", "value": cookie, "url": base_url}])
        page = context.new_page()
        for number in range(runs + 1):
            page.goto(f"{base_url}/templates/{template_id}/run")
            started = time.perf_counter()
            page.click("#run-button")
            page.wait_for_selector("#run[data-report=shown] #report svg", timeout=60_000)
            elapsed = time.perf_counter() - started
            if number:  # the first one warms the browser and the services' caches
                samples.append(elapsed)
                print(f"run {number:2d}: {elapsed * 1000:7.1f} ms", flush=True)
        browser.close()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--base-url", default=None, help="a running web service (with --database-url)")
    parser.add_argument("--database-url", default=None, help="its database, to sign a browser in")
    args = parser.parse_args(argv)
    if bool(args.base_url) != bool(args.database_url):
        parser.error("--base-url and --database-url go together")
    with ExitStack() as stack:
        base_url, database_url = (args.base_url, args.database_url) if args.base_url else _start_system(stack)
        samples = measure(base_url, database_url, args.runs)
    ordered = sorted(samples)
    print(f"click to report on screen, {len(samples)} runs: median {statistics.median(samples) * 1000:.0f} ms, "
          f"min {ordered[0] * 1000:.0f} ms, p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:.0f} ms, "
          f"max {ordered[-1] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
