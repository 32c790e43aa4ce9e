"""The pools fork their one-use children from a prepared zygote (``common.reports.zygote``): the children
are what a fresh interpreter would have been (limits, no secrets, only fds 0-2), a burst beyond the warm
ones is forked too, and a zygote that dies, at rest or under a render, costs at most that render."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.reports import child, sandbox
from common.reports.errors import RenderError
from common.reports.pool import ChildPool
from common.reports.sandbox import RenderLimits, render_report
from common.reports.zygote_client import ForkedChild, Zygote
from tests.support.processes import wait_for
from tests.support.render_processes import alive

LIMITS = RenderLimits(wall_seconds=6, cpu_seconds=3, memory_bytes=512 * 1024 * 1024, output_chars=200_000)
START_SECONDS = 60
SLEEPY = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChildPool]:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/prod")
    opened = sandbox.open_render_pool(1, LIMITS)
    assert opened is not None and opened.wait_idle(1, START_SECONDS)
    yield opened
    sandbox.close_render_pool()


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def test_warm_children_are_forked_from_a_zygote_without_privileges(pool: ChildPool) -> None:
    zygote = pool.zygote_pid
    assert zygote is not None
    status = _status(zygote)
    assert status["CapEff"] == "0000000000000000" and status["NoNewPrivs"] == "1", status
    (pid,) = pool.idle_pids()
    assert int(_status(pid)["PPid"]) == zygote, "the warm child is the zygote's"
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2], "only its own pipes"
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"secret" not in environ and b"DATABASE_URL" not in environ
    assert "<h1>Forked 42</h1>" in render_report("# Forked {{ 6 * 7 }}", {}, LIMITS).html


def test_a_burst_beyond_the_warm_children_is_forked_not_started(pool: ChildPool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fresh_interpreters(*args: object) -> None:
        raise AssertionError("a fresh interpreter was started for a burst")
    monkeypatch.setattr(child, "spawn", no_fresh_interpreters)
    results: list[str] = []
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            results.append(render_report(f"# Burst {n}", {}, LIMITS).html)
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)
    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(results) == sorted(f"<h1>Burst {n}</h1>\n" for n in range(6))


def test_limits_are_the_childs_own_in_a_forked_child(pool: ChildPool) -> None:
    with pytest.raises(RenderError) as caught:
        render_report(SLEEPY, {}, LIMITS)
    assert caught.value.kind in {"cpu", "timeout"}, caught.value.to_dict()
    assert "<p>after</p>" in render_report("after", {}, LIMITS).html


def test_a_killed_zygote_is_replaced_and_renders_go_on(pool: ChildPool) -> None:
    first = pool.zygote_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not alive(first), timeout=10, message="the zygote to die")
    for n in range(3):  # warm child (orphaned but alive), then fresh or forked ones: never an error
        assert f"<h1>After {n}</h1>" in render_report(f"# After {n}", {}, LIMITS).html
    wait_for(lambda: pool.zygote_pid not in (None, first) and pool.idle_pids(), timeout=START_SECONDS,
             message="a new zygote with a warm child")
    (pid,) = pool.idle_pids()
    assert int(_status(pid)["PPid"]) == pool.zygote_pid


def test_a_zygote_that_dies_under_a_render_fails_that_render_only(pool: ChildPool) -> None:
    zygote = pool.zygote_pid
    assert zygote is not None
    outcome: list[BaseException | str] = []

    def slow() -> None:
        try:
            outcome.append(render_report(SLEEPY, {}, LIMITS).html)
        except BaseException as exc:
            outcome.append(exc)
    worker = threading.Thread(target=slow)
    worker.start()
    wait_for(lambda: not pool.idle_pids(), timeout=10, message="the render to take the warm child")
    os.kill(zygote, signal.SIGKILL)
    worker.join(LIMITS.wall_seconds + 5)
    assert not worker.is_alive(), "the render waited for an exit nobody could report"
    assert len(outcome) == 1 and isinstance(outcome[0], RenderError), outcome
    assert outcome[0].kind in {"internal", "cpu", "timeout"}, outcome[0].to_dict()
    assert "<p>next</p>" in render_report("next", {}, LIMITS).html


def test_closing_the_pool_ends_the_zygote_and_every_child() -> None:
    pool = ChildPool(sandbox.MODULE, sandbox.child_args(LIMITS), 2).start()
    assert pool.wait_idle(2, START_SECONDS)
    zygote, children = pool.zygote_pid, pool.idle_pids()
    assert zygote is not None
    pool.close()
    assert not alive(zygote) and not any(alive(pid) for pid in children)
    assert not Path(f"/proc/{zygote}").exists() and not any(Path(f"/proc/{pid}").exists() for pid in children), \
        "reaped, not left as zombies"


def test_without_a_zygote_the_pool_starts_fresh_interpreters() -> None:
    pool = ChildPool(sandbox.MODULE, sandbox.child_args(LIMITS), 1, zygote=False).start()
    try:
        assert pool.wait_idle(1, START_SECONDS)
        (pid,) = pool.idle_pids()
        assert pool.zygote_pid is None and int(_status(pid)["PPid"]) == os.getpid()
    finally:
        pool.close()


def test_without_pidfds_the_zygote_sends_pids_and_kills_still_work() -> None:
    zygote = Zygote(sandbox.MODULE, process="tests.support.zygote_without_pidfd")
    assert zygote.start(START_SECONDS)
    try:
        done = child.communicate(_forked(zygote), sandbox._payload("# No pidfd", {}, LIMITS), LIMITS.wall_seconds)
        assert done.returncode == 0 and b"<h1>No pidfd</h1>" in done.stdout, done
        stuck = child.communicate(_forked(zygote), sandbox._payload(SLEEPY, {}, LIMITS), 0.5)
        assert stuck.timed_out, "killed at its deadline through its pid"
    finally:
        zygote.close()


def _forked(zygote: Zygote) -> ForkedChild:
    forked = zygote.fork(sandbox.child_args(LIMITS))
    assert forked is not None
    return forked


def test_a_stale_zygote_is_replaced_without_cutting_short_a_render_at_work() -> None:
    """Every ``max_age`` the pool starts a new zygote (code on disk may have changed); the old one retires
    and leaves with its last child, so a render it forked runs to its own end (here: its CPU limit)."""
    pool = ChildPool(sandbox.MODULE, sandbox.child_args(LIMITS), 2, max_age_seconds=0.5, check_seconds=0.1).start()
    sandbox.RENDER_POOL._pool, sandbox.RENDER_POOL._users = pool, 1
    try:
        assert pool.wait_idle(2, START_SECONDS)  # the spare goes stale during the render: a new zygote
        first = pool.zygote_pid
        with pytest.raises(RenderError) as caught:
            render_report(SLEEPY, {}, LIMITS)  # 3 s of CPU: several replacements meanwhile
        assert caught.value.kind in {"cpu", "timeout"}, caught.value.to_dict()
        wait_for(lambda: pool.zygote_pid not in (None, first), timeout=10, message="a newer zygote")
        assert first is not None
        wait_for(lambda: not alive(first), timeout=10, message="the retired zygote to leave with its last child")
    finally:
        sandbox.close_render_pool()
