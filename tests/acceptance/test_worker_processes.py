"""Many workers per host: WORKER_PROCESSES children under one supervising parent, and plain
``python -m worker`` started twice without PORT. Real processes, real signals."""

from __future__ import annotations

import os
import re
import signal
import time
from typing import Any

import httpx

from tests.support.databases import WORKSPACE, connect, handler_calls, insert_job, job
from tests.support.processes import Service, wait_for


def _insert(url: str, n: int) -> None:
    with connect(url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, status, payload) "
                     "SELECT %s, 'COUNT', 'QUEUED', '{}' FROM generate_series(1, %s)", (WORKSPACE, n))


def _completed(url: str) -> int:
    with connect(url) as conn:
        return int(conn.execute("SELECT count(*) AS n FROM jobs WHERE status = 'COMPLETED'").fetchone()["n"])


def _children(parent: Service) -> list[dict[str, Any]]:
    response = httpx.get(f"{parent.base_url}/healthz", timeout=5)
    return list(response.json()["processes"]) if response.status_code == 200 else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split()[2] != "Z"


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _processed(parent: Service) -> float:
    return parent.metric("reportgen_jobs_processed_total", {"type": "COUNT", "outcome": "completed"})


def test_two_processes_share_one_port_restart_after_kill_9_and_stop_on_sigterm(database_url, services):
    parent = services("worker", database_url, WORKER_PROCESSES=2, WORKER_CONCURRENCY=4, LOG_LEVEL="INFO")
    wait_for(lambda: parent.ready(), timeout=60, message="both worker processes ready")
    first = [c["pid"] for c in _children(parent)]
    assert len(first) == 2 and all(_alive(p) for p in first)

    _insert(database_url, 400)
    wait_for(lambda: _completed(database_url) == 400, timeout=120, interval=0.25, message="400 jobs completed")
    assert {c["pid"] for c in handler_calls(database_url)} == set(first), "both children ran jobs"
    # One /metrics for both: the counters are the sum of the children's.
    wait_for(lambda: _processed(parent) == 400, timeout=10, message="merged counter says 400")
    assert parent.metric("reportgen_worker_processes") == 2

    os.kill(first[0], signal.SIGKILL)
    restarted = wait_for(lambda: (pids := [c["pid"] for c in _children(parent)]) and first[0] not in pids
                         and all(_alive(p) for p in pids) and pids, timeout=30, message="the killed child restarted")
    assert restarted[1] == first[1], "the other child kept running"
    wait_for(lambda: parent.ready(), timeout=60, message="the restarted child ready")
    # The dead child's counts stay in the sum (a drop would read as a counter reset).
    assert _processed(parent) == 400
    assert parent.metric("reportgen_worker_process_restarts") == 1
    _insert(database_url, 100)
    wait_for(lambda: _completed(database_url) == 500, timeout=60, interval=0.25, message="100 more jobs completed")
    wait_for(lambda: _processed(parent) == 500, timeout=10, message="merged counter says 500")

    started = time.monotonic()
    parent.signal(signal.SIGTERM)
    assert parent.wait_exit(timeout=15) == 0
    assert time.monotonic() - started < 10, "within Cloud Run's 10 s"
    wait_for(lambda: not any(_alive(p) for p in restarted), timeout=5, message="every child gone")
    assert "stopping: no new claims" in parent.log(), "the children got the signal and stopped claiming"


def test_children_stop_and_give_their_jobs_back_when_the_supervisor_is_killed(database_url, services):
    """kill -9 of the parent (OOM killer, a crashed container runtime, a test's cleanup): its children must
    not live on as orphans that claim jobs with nobody to stop them. The kernel tells each (SIGTERM) and
    it stops as on any stop: its long job goes back to the queue, uncounted."""
    parent = services("worker", database_url, WORKER_PROCESSES=2, WORKER_CONCURRENCY=2, SHUTDOWN_GRACE_SECONDS=1)
    wait_for(lambda: parent.ready(), timeout=60, message="both worker processes ready")
    pids = [c["pid"] for c in _children(parent)]
    jobs = [insert_job(database_url, "SLOW_FIRST_CALL", '{"sleep_seconds": 120}') for _ in range(2)]
    wait_for(lambda: len(handler_calls(database_url)) == 2, timeout=20, message="both long jobs started")

    parent.signal(signal.SIGKILL)
    parent.wait_exit(timeout=5)
    wait_for(lambda: not any(_alive(p) for p in pids), timeout=15, message="both children gone after the parent")
    for job_id in jobs:
        given_back = job(database_url, job_id)
        assert given_back["status"] == "QUEUED" and given_back["attempts"] == 0, given_back
    assert parent.log().count("stopping: no new claims") == 2, parent.log()


def test_python_m_worker_twice_on_one_host_without_port(database_url, services):
    workers = [services("worker", database_url, wait_healthy=False, PORT="") for _ in range(2)]
    ports = []
    for worker in workers:
        found = wait_for(lambda w=worker: re.search(r"worker health server on http://127\.0\.0\.1:(\d+)", w.log()),
                         timeout=30, message="the worker to name its health port")
        ports.append(int(found.group(1)))
        wait_for(lambda p=ports[-1]: _answers(p), timeout=30, message="the worker's /healthz on the port it named")
    assert ports[0] != ports[1]
    _insert(database_url, 200)
    wait_for(lambda: _completed(database_url) == 200, timeout=60, interval=0.25, message="200 jobs completed")
    assert len({c["pid"] for c in handler_calls(database_url)}) == 2
    for worker in workers:
        assert worker.process is not None and worker.process.poll() is None
