"""Report work has ceilings, seen where the review saw it fail: real web and worker processes, real HTTP.

A PDF over its limits (pages: refused before any layout; time: the child killed at PDF_TIMEOUT_SECONDS)
fails its export with a named reason that the download (422 ``export_refused``) and the run page show,
is not re-queued by later downloads, and leaves the worker (same process) and the jobs beside it alone:
a PING and a small report enqueued meanwhile complete within seconds.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest

from tests.support.databases import connect
from tests.support.processes import Service, wait_for
from tests.support.render_processes import render_processes

BIG_TABLE = "# Big\n\n| n | square |\n|---:|---:|\n{% for i in range(ROWS) %}| {{ i }} | {{ i * i }} |\n{% endfor %}\n"
# (case, table rows, PDF_MAX_PAGES, the reason's kind, words of the message)
CASES = [
    ("pages", 60_000, 20, "pages", "over 20 pages"),  # the review's 60,000-row table
    # Under a page cap it cannot reach, and ~7x the deadline: 3,000 rows take 22 s of layout in-process on an
    # idle 2-core machine (86 pages, 136 MB). 700 rows under a cap of 20 took 3.9 s there, so on a fast machine
    # the layout ended inside the 3 s and the pages refused it instead (CI, stop 18).
    ("timeout", 3_000, 1_000, "timeout", "longer than 3 s"),
]


@pytest.fixture
def pdf_max_pages() -> int:
    return 20


@pytest.fixture
def system(database_url: str, services: Any, pdf_max_pages: int) -> tuple[Service, Service]:
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=1, WORKER_CONCURRENCY=3, REPORT_SLOTS=2,
                      PDF_TIMEOUT_SECONDS=3, PDF_MAX_PAGES=pdf_max_pages)
    web = services("web", database_url)
    return web, worker


def _csrf(api: httpx.Client) -> str:
    return str(api.get("/api/csrf").json()["csrf_token"])


def _run(api: httpx.Client, body: str) -> str:
    template = api.post("/api/templates", json={"name": "Ceiling", "body": body, "parameters": []})
    assert template.status_code == 201, template.text
    run = api.post("/api/runs", json={"template_id": template.json()["id"], "parameters": {}})
    assert run.status_code in (200, 201, 202), run.text
    return str(run.json()["id"])


def _wait_run(api: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = api.get(f"/api/runs/{run_id}").json()
        return run if run["status"] in ("COMPLETED", "FAILED") else None
    return wait_for(done, timeout=timeout, interval=0.1, message=f"run {run_id} to finish")


def _ping(api: httpx.Client) -> float:
    """Seconds from enqueueing a PING to its completion."""
    started = time.monotonic()
    job = api.post("/api/jobs", json={"type": "PING", "payload": {}}, headers={"X-CSRF-Token": _csrf(api)})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    wait_for(lambda: api.get(f"/api/jobs/{job_id}").json()["status"] == "COMPLETED", timeout=10, interval=0.05,
             message="a PING beside the export to complete")
    return time.monotonic() - started


def _export_jobs(database_url: str, run_id: str) -> list[dict[str, Any]]:
    with connect(database_url) as conn:
        return conn.execute("SELECT status, attempts, result FROM jobs WHERE type = 'EXPORT' "
                            "AND payload->>'run_id' = %s", (run_id,)).fetchall()


@pytest.mark.parametrize(("case", "rows", "pdf_max_pages", "kind", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_pdf_over_its_limits_is_refused_and_harms_nothing(
        system: tuple[Service, Service], database_url: str, case: str, rows: int, pdf_max_pages: int, kind: str,
        words: str) -> None:
    web, worker = system
    pid = worker.process.pid if worker.process else None
    with web.client(timeout=60) as api:
        run_id = _run(api, BIG_TABLE.replace("ROWS", str(rows)))
        big = _wait_run(api, run_id)
        assert big["status"] == "COMPLETED", big["error"]
        small = _run(api, "# Small {{ 6 * 7 }}\n")  # a report enqueued beside the big export
        assert _ping(api) < 10
        assert _wait_run(api, small, timeout=20)["status"] == "COMPLETED"

        def refused() -> list[dict[str, Any]] | None:
            jobs = _export_jobs(database_url, run_id)
            return jobs if jobs and jobs[0]["status"] == "COMPLETED" else None
        jobs = wait_for(refused, timeout=30, interval=0.2, message=f"the {case} export to end")
        assert jobs[0]["attempts"] == 1 and jobs[0]["result"]["refused"]["kind"] == kind

        for _ in range(2):  # asked again: the same answer, and nothing re-queued
            answer = api.get(f"/api/runs/{run_id}/report", params={"format": "pdf"})
            assert answer.status_code == 422, answer.text
            error = answer.json()["error"]
            assert error["code"] == "export_refused" and words in error["message"]
            assert "HTML or CSV" in error["message"]
        assert len(_export_jobs(database_url, run_id)) == 1 and _export_jobs(database_url, run_id)[0]["attempts"] == 1
        page = api.get(f"/runs/{run_id}")
        assert page.status_code == 200 and words in page.text
        assert api.get(f"/api/runs/{run_id}/report", params={"format": "csv"}).status_code == 200
        assert _ping(api) < 10
    assert worker.process is not None and worker.process.poll() is None and worker.process.pid == pid


# Render children that die of their memory, however they die, are reported as memory, not CPU:
# (case, template, how the child dies). "oom" is the container's OOM killer: SIGKILL from outside,
# no message (the review saw it reported as a CPU-limit error).
STRING_DOUBLING = ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                   "{% endfor %}{{ ns.s | length }}")
SLOW = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
MEMORY_CASES = [("address space", STRING_DOUBLING, None), ("C allocation", "{{ '%0999999999d' % 1 }}", None),
                ("oom killer", SLOW, signal.SIGKILL)]


def _busy_render_child(pid: int) -> int:
    """The render child that is working: its CPU time grows (the warm pool's idle ones wait on stdin)."""
    first: dict[int, int] = {}  # CPU ticks when first seen

    def busy() -> int | None:
        now = render_processes(pid)
        for child, ticks in now.items():
            first.setdefault(child, ticks)
        # Working: still using CPU, and more of it than a starting interpreter's imports (~0.3 s; a
        # forked child starts from 0).
        grown = [child for child, ticks in now.items() if ticks > first[child] + 10 and ticks >= 100]
        return grown[0] if grown else None
    return wait_for(busy, timeout=20, interval=0.2, message="a render child to start working")


@pytest.mark.parametrize(("case", "body", "kill"), MEMORY_CASES, ids=[c[0] for c in MEMORY_CASES])
def test_a_render_child_that_dies_of_memory_is_reported_as_memory(
        system: tuple[Service, Service], case: str, body: str, kill: int | None) -> None:
    web, worker = system
    assert worker.process is not None
    pid = worker.process.pid
    with web.client(timeout=60) as api:
        run_id = _run(api, body)
        if kill is not None:
            os.kill(_busy_render_child(pid), kill)
        assert _ping(api) < 10
        run = _wait_run(api, run_id)
        assert run["status"] == "FAILED", run
        assert run["error"]["kind"] == "memory", run["error"]
        assert "memory" in run["error"]["message"] and "CPU" not in run["error"]["message"]
        small = _run(api, "# Small {{ 6 * 7 }}\n")
        assert _wait_run(api, small, timeout=20)["status"] == "COMPLETED"
    assert worker.process.poll() is None and worker.process.pid == pid
