"""Real worker and web processes keep warm render children, use each for one report, and leave none behind:
on SIGTERM they kill and reap them; if a service is killed outright, its idle children exit by themselves."""

from __future__ import annotations

import signal
from typing import Any

import httpx

from tests.support.processes import Service, wait_for
from tests.support.render_processes import alive, render_processes

START_SECONDS = 60  # cold interpreters on a loaded machine; only bounds a pool that never fills


def render_children(parent: int) -> set[int]:
    return set(render_processes(parent))


def _warm(service: Service, count: int = 2) -> set[int]:
    assert service.process is not None
    pid = service.process.pid

    def full() -> set[int] | None:
        found = render_children(pid)
        return found if len(found) == count else None
    return wait_for(full, timeout=START_SECONDS, interval=0.1,
                    message=f"{service.module} to have {count} render children")


def _report(api: httpx.Client) -> dict[str, Any]:
    template = api.post("/api/templates", json={"name": "Pool", "body": "# Pool {{ 6 * 7 }}\n", "parameters": []})
    assert template.status_code == 201, template.text
    run = api.post("/api/runs", json={"template_id": template.json()["id"], "parameters": {}})
    assert run.status_code in (200, 201, 202), run.text

    def done() -> dict[str, Any] | None:
        row = api.get(f"/api/runs/{run.json()['id']}").json()
        return row if row["status"] in ("COMPLETED", "FAILED") else None
    return wait_for(done, timeout=30, interval=0.05, message="the run to finish")


def test_services_use_each_render_child_once_and_reap_them_on_sigterm(database_url: str, services: Any) -> None:
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=1)
    web = services("web", database_url)
    before = _warm(worker)
    web_children = _warm(web)
    with web.client() as api:
        run = _report(api)
    assert run["status"] == "COMPLETED", run
    after = _warm(worker)
    assert len(before - after) == 1 and not any(alive(pid) for pid in before - after), (before, after)

    children = after | web_children
    for service in (worker, web):
        service.signal(signal.SIGTERM)
        assert service.wait_exit(15) == 0, service.log()
    assert not [pid for pid in children if alive(pid)], "render children outlived their service"


def test_idle_render_children_exit_when_their_worker_is_killed(database_url: str, services: Any) -> None:
    worker = services("worker", database_url, POLL_INTERVAL_SECONDS=1, RENDER_POOL_SIZE=3)
    children = _warm(worker, 3)
    worker.signal(signal.SIGKILL)
    worker.wait_exit(10)
    # No one closed them: each reads EOF on its stdin (the dead worker held the only write end) and exits.
    wait_for(lambda: not [pid for pid in children if alive(pid)], timeout=15, interval=0.05,
             message="the render children of a killed worker to exit")
