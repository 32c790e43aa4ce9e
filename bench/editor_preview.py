"""Keystroke → preview updated, in Chromium, on the three shipped examples; and the editor's JS size.

One web process (``python -m web``) on the bench's embedded PostgreSQL, an editor member signed in with a
real session (``common.sessions``), Debian's chromium driven by Playwright. For each example the editor
page is opened, a line ``Bench marker: `` is appended, and then one key is pressed at a time: the time
from the browser's ``keydown`` to the moment the preview pane shows the new text (the ``data-sequence``
mutation that follows the render) is one sample. Both times are the page's own ``performance.now()``, so
no Python scheduling is measured. The figure includes the editor's 400 ms debounce on purpose: that is
what an author waits. Keys are pressed one per ``--gap`` seconds, under the preview's rate limit
(``PREVIEW_PER_SECOND``), as a person who pauses would. The server's own render time (``elapsed_ms`` of
``POST /api/templates/preview``) is reported beside it.

    .venv/bin/python -m bench.editor_preview [--keystrokes 30] [--gap 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gzip
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import machine
from bench.server import BenchServer
from bench.stats import percentile

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work" / "editor_preview"
RESULTS = REPO / "bench" / "results"
WORKSPACE = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
EXAMPLES = ("Monthly sales summary", "Support tickets by team", "Website traffic over time")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
EMAIL = "bench-editor@bench.invalid"
# In the page: keydown and preview-update times on the page's clock, and each preview answer's render time.
RECORDER = """() => {
  const b = window.__bench = { down: [], updated: [] };
  document.addEventListener("keydown", () => b.down.push(performance.now()), true);
  new MutationObserver(() => b.updated.push(performance.now()))
    .observe(document.getElementById("preview"), { attributes: true, attributeFilter: ["data-sequence"] });
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def editor_session(url: str) -> str:
    """An editor member made by the CLI, and a session cookie for it (as the sign-in page would make)."""
    from common import sessions
    from common.db import connect_async

    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "reportgen.cli", "users", "create", EMAIL, "--role", "editor"],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)

    async def make() -> str:
        async with await connect_async(url) as conn:
            cur = await conn.execute("SELECT id::text AS id FROM users WHERE lower(email) = lower(%s)", (EMAIL,))
            row = await cur.fetchone()
            assert row is not None
            return await sessions.create(conn, str(row["id"]), WORKSPACE,  # type: ignore[call-overload]
                                         max_age=dt.timedelta(hours=2))
    return asyncio.run(make())


def wait_for_examples(base: str, cookie: str, timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = httpx.get(base + "/api/templates", cookies={"rg_session": cookie}, timeout=5).json()["templates"]
            found = {t["name"]: t["id"] for t in rows if t["name"] in EXAMPLES}
            if len(found) == len(EXAMPLES):
                return found
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.3)
    raise SystemExit("the examples were not seeded in time")


def measure_example(browser: Any, base: str, cookie: str, ident: str, keystrokes: int, gap: float) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "rg_session", "value": cookie, "url": base, "httpOnly": True, "sameSite": "Lax"}])
    page = context.new_page()
    renders: list[float] = []

    def on_response(response: Any) -> None:
        if response.url.endswith("/api/templates/preview") and response.status == 200:
            with contextlib.suppress(Exception):  # an error answer has no elapsed_ms
                renders.append(float(response.json()["elapsed_ms"]))
    page.on("response", on_response)
    page.goto(f"{base}/templates/{ident}")
    page.wait_for_selector("#preview[data-sequence]")
    page.evaluate("() => { const v = window.reportgenEditor;"
                  " v.dispatch({changes: {from: v.state.doc.length, insert: '\\n\\nBench marker: '}}); }")
    page.locator("#preview", has_text="Bench marker:").wait_for()
    page.locator(".cm-content").focus()
    page.keyboard.press("Control+End")
    page.evaluate(RECORDER)
    renders.clear()
    samples: list[float] = []
    for i in range(1, keystrokes + 1):
        time.sleep(gap)
        page.keyboard.press("x")
        page.locator("#preview", has_text="Bench marker: " + "x" * i).wait_for(timeout=30_000)
        down, updated = page.evaluate("() => [window.__bench.down.at(-1), window.__bench.updated.at(-1)]")
        samples.append(updated - down)
    context.close()
    return {"keystrokes": len(samples), "p50_ms": round(percentile(samples, 50), 1),
            "p90_ms": round(percentile(samples, 90), 1), "max_ms": round(max(samples), 1),
            "render_p50_ms": round(percentile(renders, 50), 1) if renders else None}


def js_size() -> dict[str, int]:
    data = (REPO / "web" / "static" / "editor.js").read_bytes()
    return {"raw_bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keystrokes", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between an update and the next key")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    WORK.mkdir(parents=True, exist_ok=True)
    server = BenchServer(WORK / "pg")
    admin = server.start()
    web = None
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_editor WITH (FORCE)")
            conn.execute("CREATE DATABASE bench_editor")
        url = server.url("bench_editor")
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "-m", "common.migrate"], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        cookie = editor_session(url)
        port = free_port()
        web = subprocess.Popen([sys.executable, "-m", "web"], cwd=REPO, stdout=subprocess.DEVNULL,
                               env={**env, "SERVICE_MODE": "web", "PORT": str(port), "HOST": "127.0.0.1"})
        base = f"http://127.0.0.1:{port}"
        examples = wait_for_examples(base, cookie)
        results: dict[str, Any] = {"machine": machine.facts(), "keystrokes": args.keystrokes, "gap_s": args.gap,
                                   "editor_js": js_size(), "examples": {}}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for name in EXAMPLES:
                results["examples"][name] = measure_example(browser, base, cookie, examples[name],
                                                            args.keystrokes, args.gap)
            browser.close()
        results["machine"]["loadavg_end"] = machine.loadavg()
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=15)
        server.stop()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"editor-preview-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print("\n| example | keystrokes | keystroke → preview p50 | p90 | max | server render p50 |")
    print("|---|---|---|---|---|---|")
    for name, r in results["examples"].items():
        print(f"| {name} | {r['keystrokes']} | {r['p50_ms']} ms | {r['p90_ms']} ms | {r['max_ms']} ms | "
              f"{r['render_p50_ms']} ms |")
    size = results["editor_js"]
    print(f"\nweb/static/editor.js: {size['raw_bytes'] / 1024:.1f} KiB, gzip -9 {size['gzip_bytes'] / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
