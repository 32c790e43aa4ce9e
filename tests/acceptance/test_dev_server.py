"""``make run``'s command, ``reportgen serve --dev``: its own embedded PostgreSQL under a data folder, found
by the other CLI commands without DATABASE_URL, reused on the next start, and stopped cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from common.embedded_pg import CONNECTION_FILE
from tests.acceptance.test_browser import browser  # noqa: F401  (the fixture: chromium or a skip)
from tests.support.processes import ROOT, free_port, wait_for


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    return {**env, "REPORTGEN_DATA_DIR": str(data_dir), "PORT": str(port), "POLL_INTERVAL_SECONDS": "1"}


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        # A session of its own, like a terminal's foreground job: Ctrl-C goes to the whole group.
        return subprocess.Popen([sys.executable, "-m", "reportgen.cli", "serve", "--dev"], cwd=ROOT,
                                env=_env(data_dir, port), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen.cli", *args], cwd=ROOT, env=_env(data_dir, 8000),
                          capture_output=True, text=True, timeout=60)


def _up(port: int, server: subprocess.Popen[bytes], log: Path) -> bool:
    assert server.poll() is None, f"serve --dev exited: {log.read_text()[-2000:]}"
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


LINK = re.compile(r"http://127\.0\.0\.1:\d+/invite/[A-Za-z0-9_-]+")
FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _sign_in_with_the_printed_link(port: int, log: Path) -> None:
    """The newcomer's first step: the console's one-time link, a password, and the dashboard."""
    links = LINK.findall(log.read_text())
    assert len(links) == 1, f"one sign-in link on the console: {log.read_text()[-2000:]}"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        assert client.get("/").status_code == 303, "nobody is signed in yet"
        path = links[0].split(str(port), 1)[1]
        page = client.get(path)
        assert page.status_code == 200 and "admin@localhost" in page.text
        token = FORM_TOKEN.search(page.text)
        assert token is not None
        done = client.post(path, data={"csrf_token": token.group(1), "password": "local admin pw",
                                        "password_repeat": "local admin pw"})
        assert done.status_code == 303
        assert client.get("/jobs").status_code == 200, "the local admin sees the operators' page"


def _postgres_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / CONNECTION_FILE).read_text())["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_server_lifecycle(tmp_path):
    # Under /tmp, which the server's unprivileged account can enter (pytest's tmp_path may be 0700 for root).
    data_dir, log = Path(tempfile.mkdtemp(prefix="rg-dev-")), tmp_path / "serve.log"
    port = free_port()
    server = _serve(data_dir, port, log)
    try:
        wait_for(lambda: _up(port, server, log), timeout=60, message=f"serve --dev ready; log: {log}")
        assert _cli(data_dir, "ping", "--timeout", "10").returncode == 0, "the CLI finds the embedded database"
        _sign_in_with_the_printed_link(port, log)
        long_job = json.loads(_cli(data_dir, "enqueue", "PING", "--payload", '{"sleep_seconds": 60}').stdout)
        wait_for(lambda: json.loads(_cli(data_dir, "jobs", "show", long_job["id"]).stdout)["status"]
                 == "IN_PROGRESS", timeout=10, message="long job running")
        pg_pid = _postgres_pid(data_dir)
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
    assert not _alive(pg_pid), "the embedded server stops with the command"
    assert not (data_dir / CONNECTION_FILE).exists()
    assert "gave 1 unfinished job(s) back" in log.read_text()
    assert "database is not reachable" not in log.read_text()
    stopped = _cli(data_dir, "jobs", "list")
    assert stopped.returncode == 2 and "no embedded database is running" in stopped.stderr

    # The next start reuses the data: the given-back job is still there and now completes.
    port = free_port()
    server = _serve(data_dir, port, log)
    try:
        wait_for(lambda: _up(port, server, log), timeout=60, message="second start")
        assert len(LINK.findall(log.read_text())) == 1, "once someone can sign in, no new link is printed"
        shown = json.loads(_cli(data_dir, "jobs", "show", long_job["id"]).stdout)
        assert shown["status"] in ("QUEUED", "IN_PROGRESS") and shown["attempts"] <= 1
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_the_newcomer_follows_the_printed_link_runs_an_example_and_shares_it(tmp_path, browser):  # noqa: F811
    """DESIGN.md's first start: `make run`, the console's link, a password, an example run, a share link
    that a browser without any session opens."""
    data_dir, log = Path(tempfile.mkdtemp(prefix="rg-dev-")), tmp_path / "serve.log"
    port = free_port()
    server = _serve(data_dir, port, log)
    try:
        wait_for(lambda: _up(port, server, log), timeout=60, message=f"serve --dev ready; log: {log}")
        link = wait_for(lambda: LINK.findall(log.read_text()), timeout=10, message="the sign-in link")[0]
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(link)
        page.fill("#password", "local admin pw")
        page.fill("#password_repeat", "local admin pw")
        page.click("button[type=submit]")
        page.wait_for_url(f"http://127.0.0.1:{port}/")
        page.click("a[aria-label='Run Monthly sales summary']")
        page.click("#run-button")
        page.wait_for_selector("#run[data-report=shown] #report svg", timeout=60_000)
        page.click("#share-button")
        page.wait_for_selector("#share-url", state="visible")
        shared = page.input_value("#share-url")
        assert shared.startswith(f"http://127.0.0.1:{port}/s/")
        context.close()

        stranger = browser.new_context()  # no session, no cookies
        view = stranger.new_page()
        view.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        answer = view.goto(shared)
        assert answer is not None and answer.status == 200
        assert view.locator("#report svg").count() == 1
        assert view.locator("a[href^='/templates'], a[href^='/runs'], a[href='/jobs']").count() == 0
        stranger.close()
        assert not errors, errors
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
