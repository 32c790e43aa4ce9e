"""A render child cannot reach the secrets of the service that started it (issue 11, item 6).

Real worker and web processes, started without capabilities as the container's user runs (the tests
may run as root, whose CAP_SYS_PTRACE reads anything). A probe started exactly like a render child
(``common.reports.child``: clean environment, the render's limits) tries what escaped template code
would: ``/proc/<service>/environ``, ``/maps`` and the stack through ``/mem``. Each read of the service
fails; the same reads of a control process of the same uid and privileges, that did not seal itself,
succeed and find its secret, so the failures are the service's doing and not the probe's. The services
keep working afterwards with the secrets they read at start-up.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from common.process_guard import drop_capabilities
from common.reports import child
from tests.support.databases import insert_job, job
from tests.support.processes import wait_for

DENIED = {"read": False, "error": "PermissionError", "marker": False}
FOUND = {"read": True, "error": None, "marker": True}


@pytest.fixture
def control() -> Iterator[dict[str, Any]]:
    """A same-uid process without capabilities that holds a secret and did not seal itself."""
    marker = f"canary-{secrets.token_hex(8)}"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                 "DATABASE_URL": f"postgresql://app:{marker}@db.invalid/app"},
                            preexec_fn=drop_capabilities)
    try:
        yield {"pid": proc.pid, "marker": marker}
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def _assert_sealed(answer: dict[str, Any], service: str) -> None:
    assert answer["control"] == {"environ": FOUND, "maps": FOUND, "mem": FOUND}, answer
    assert answer[service] == {"environ": DENIED, "maps": DENIED, "mem": DENIED}, answer
    assert "DATABASE_URL" not in answer["own_environ"] and not answer["own_proc_environ_has_database_url"]
    assert set(answer["own_environ"]) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE"}, answer["own_environ"]


def _privileged_read(pid: int, *secret_values: str) -> None:
    """Even a reader allowed to read the environ block (root here) finds the values wiped from it."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            block = file.read()
    except PermissionError:
        return  # the tests run unprivileged: nothing to read at all
    assert b"DATABASE_URL=" in block  # the name stays, the value is overwritten
    for value in secret_values:
        assert value.encode() not in block


def test_a_render_child_of_the_worker_cannot_read_its_environ_or_memory(
        database_url: str, services: Any, control: dict[str, Any]) -> None:
    smtp = f"smtp://reports:{secrets.token_hex(8)}@127.0.0.1:2525"
    worker = services("worker", database_url, unprivileged=True, POLL_INTERVAL_SECONDS=1, SMTP_URL=smtp)
    assert worker.process is not None
    job_id = insert_job(database_url, "PROBE_SECRETS", json.dumps(
        {"marker": database_url, "others": {"control": control}}))
    done = wait_for(lambda: (row := job(database_url, job_id))["status"] in ("COMPLETED", "FAILED") and row,
                    timeout=30, interval=0.1, message="the probe job to finish")
    assert done["status"] == "COMPLETED", done["error"]
    _assert_sealed(done["result"], "worker")
    _privileged_read(worker.process.pid, database_url, smtp)

    # The worker still has the database it read at start-up.
    ping = insert_job(database_url, "PING")
    wait_for(lambda: job(database_url, ping)["status"] == "COMPLETED", timeout=10, message="a PING to complete")
    assert worker.process.poll() is None


def test_the_web_which_also_starts_render_children_is_sealed_too(
        database_url: str, services: Any, control: dict[str, Any]) -> None:
    web = services("web", database_url, unprivileged=True)
    assert web.process is not None
    targets = {"web": {"pid": web.process.pid, "marker": database_url}, "control": control}
    done = child.run_child("tests.support.secret_probe", pickle.dumps(
        {"targets": targets, "memory_bytes": 512 * 1024 * 1024, "cpu_seconds": 10}), 20)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    _assert_sealed(json.loads(done.stdout), "web")
    _privileged_read(web.process.pid, database_url)

    with web.client() as api:  # still serving from the database, and its preview children still render
        preview = api.post("/api/templates/preview", json={"body": "# Sealed {{ 6 * 7 }}\n", "parameters": []})
        assert preview.status_code == 200, preview.text
        assert "Sealed 42" in preview.json()["html"]
