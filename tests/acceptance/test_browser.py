"""A real browser (Playwright driving Debian's chromium) through the product, as a newcomer would use it.

Mandatory in CI: with ``CI`` or ``REPORTGEN_REQUIRE_BROWSER=1`` set, a missing chromium or playwright
fails the test (``.ci/setup.d/chromium.sh`` installs chromium); elsewhere it is skipped with the reason.
Screenshots go to a temporary directory, or to ``docs/screenshots/`` with ``REPORTGEN_SAVE_SCREENSHOTS=1``
(that is how the committed ones were made).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest

from common.reports import load_examples
from tests.support.processes import ROOT, Service, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SALES = next(e for e in load_examples() if e.slug == "monthly_sales")
BODY = """# {{ title }}

Total revenue: **{{ sales | sum("revenue") | number }}**

{{ bar_chart(sales | aggregate("month", "revenue"), "month", "revenue", title="Revenue by month") }}
"""
PARAMETERS = '[{"name": "title", "type": "text", "default": "Browser report"},\n' \
             ' {"name": "sales", "type": "dataset", "required": true}]'


async def _make_member(url: str, email: str, role: str, password: str) -> None:
    from common import accounts, db
    from tests.support.databases import WORKSPACE

    async with await db.connect_async(url) as conn:
        await accounts.create_user(conn, email, role, WORKSPACE, password=password)


def browser_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("REPORTGEN_REQUIRE_BROWSER") == "1"


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem = f"playwright is not installed ({exc})"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem:
        if browser_required():
            pytest.fail(f"the browser test is mandatory here (CI / REPORTGEN_REQUIRE_BROWSER): {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        instance = launch(playwright)
        yield instance
        instance.close()


def screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("REPORTGEN_SAVE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


def test_newcomer_writes_a_template_runs_it_and_downloads_the_pdf(database_url: str, services: Any,
                                                                  browser: Any, tmp_path: Path) -> None:
    web: Service = services("web", database_url)
    shots = screenshot_dir(tmp_path)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Signing in: the first page asked for sends the newcomer to /login, and back there once signed in.
    # (in a thread: Playwright's sync API keeps an event loop running in this one)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _make_member(database_url, "newcomer@example.test", "editor",
                                              "correct horse battery")).result()
    page.goto(f"{web.base_url}/templates")
    page.wait_for_url("**/login?next=%2Ftemplates")
    page.fill("#email", "newcomer@example.test")
    page.fill("#password", "wrong password")
    page.click("button:text('Sign in')")
    assert "do not match" in page.inner_text("[role=alert]")
    assert errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    errors.clear()  # that 401 was the point; from here on the console must stay clean
    page.fill("#password", "correct horse battery")
    page.click("button:text('Sign in')")
    page.wait_for_url(f"{web.base_url}/templates")
    cookie = next(c for c in context.cookies() if c["name"] == "rg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    wait_for(lambda: page.reload() or page.locator("text=Monthly sales summary").count() > 0, timeout=20,
             interval=0.3, message="the examples are listed")

    page.click("text=New template")
    page.fill("#name", "Browser sales")
    # The body is edited in CodeMirror (web/static/editor.js), which keeps the hidden #body textarea in step.
    page.wait_for_selector(".cm-editor .cm-content")
    page.evaluate("body => { const v = window.reportgenEditor;"
                  " v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: body}}); }", BODY)
    assert page.input_value("#body") == BODY
    page.click("#parameters-json summary")  # the JSON view of the parameter builder
    page.fill("#parameters", PARAMETERS)
    page.click("button[value=save]")
    page.click("text=Run this template")
    page.fill("#p-title", "Quarterly revenue")
    page.set_input_files("#p-sales", files=[{"name": "sales.csv", "mimeType": "text/csv",
                                              "buffer": SALES.datasets["sales"][1]}])
    fragments: list[str] = []
    page.on("request", lambda r: fragments.append(r.url) if "/fragment" in r.url else None)
    page.click("#run-button")
    page.wait_for_url("**/runs/*")
    # No worker yet: the page shows the run waiting, then follows it live once a worker starts.
    assert page.inner_text("#run-status") == "QUEUED"
    page.evaluate("window.__sameDocument = true")
    services("worker", database_url)
    page.wait_for_selector("#run-status.COMPLETED", timeout=60_000)
    page.wait_for_selector("#run[data-report=shown] #report h1", timeout=10_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of updating live"
    assert page.get_attribute("#run", "data-live") == "sse"
    assert page.inner_text("#report h1") == "Quarterly revenue"
    assert page.locator("#report svg").count() == 1
    assert fragments == [], "the report should have come in the stream, not from a second request"
    # The run page of a finished run carries its report in the HTML itself: no stream, no fetch.
    page.reload()
    assert page.locator("#report svg").count() == 1 and page.get_attribute("#run", "data-report") == "shown"
    assert page.get_attribute("#run", "data-live") is None and fragments == []

    with page.expect_download(timeout=30_000) as download_info:
        page.click("#download-pdf")
    pdf_path = tmp_path / "report.pdf"
    download_info.value.save_as(pdf_path)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes())).pages)
    assert "Quarterly revenue" in text and "Total revenue" in text

    # The shipped example with its sample CSV, for the README's screenshots.
    page.goto(f"{web.base_url}/")
    page.click("a[aria-label='Run Monthly sales summary']")
    page.click("#run-button")
    page.wait_for_selector("#run[data-report=shown] #report svg", timeout=60_000)
    page.screenshot(path=str(shots / "run.png"), full_page=True)
    page.goto(f"{web.base_url}/")
    page.wait_for_selector("text=Recent runs")
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert (shots / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (shots / "dashboard.png").stat().st_size > 10_000
    assert not errors, errors  # no CSP violation, no failed request
    context.close()


def test_the_run_page_rides_out_a_database_and_web_restart_and_shows_the_finished_run(
        own_server: Any, services: Any, browser: Any, tmp_path: Path) -> None:
    """Before: the page's stream, cut by the web's restart, reconnected into a 503 while the database was
    down, so the page polled; each poll's 503 body was shown as the run (status "undefined", the error box
    saying "the database is not reachable"), and that error box stayed after the run completed."""
    from common.migrate import migrate
    from tests.support.accounts import sign_in_browser
    from tests.support.databases import WORKSPACE
    from tests.support.schedules import make_template

    url = own_server.start()
    migrate(url, WORKSPACE)
    web = services("web", url)
    wait_for(web.ready, timeout=20, message="web ready")
    with web.client() as api:
        run_id = api.post("/api/runs", json={"template_id": make_template(url), "parameters": {}}).json()["id"]
    context = browser.new_context(base_url=web.base_url)
    sign_in_browser(context, web.base_url, url)
    page = context.new_page()
    page.goto(f"/runs/{run_id}")
    page.wait_for_selector('#run[data-live="sse"][data-status="QUEUED"]')
    own_server.stop()
    web.stop()
    web.start()  # same port; the database is still down, so the stream's reconnect gets a 503
    page.wait_for_selector('#run[data-live="polling"]', timeout=20_000)
    page.wait_for_timeout(2500)  # a few polls answered 503 while the database is down
    assert page.get_attribute("#run", "data-status") == "QUEUED"
    assert page.is_hidden("#run-error")
    own_server.start()
    services("worker", url, POLL_INTERVAL_SECONDS=0.5)
    page.wait_for_selector('#run[data-status="COMPLETED"]', timeout=30_000)
    assert page.is_hidden("#run-error")
    context.close()
