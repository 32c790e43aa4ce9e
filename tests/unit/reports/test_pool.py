"""The warm render pool: each child renders once, holds its limits and no secrets before its job, and is
replaced when used, dead or stale; closing the pool leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.reports import child, sandbox
from common.reports.errors import RenderError
from common.reports.pool import ChildPool
from common.reports.sandbox import RenderLimits, render_report, render_report_async
from tests.support.processes import wait_for

LIMITS = RenderLimits(wall_seconds=4, cpu_seconds=2, memory_bytes=512 * 1024 * 1024, output_chars=200_000)
INFINITE_LOOP = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
MEMORY_BOMB = ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
               "{{ ns.s | length }}")
START_SECONDS = 60  # a cold interpreter on a loaded machine; only bounds a pool that never fills


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChildPool]:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/prod")  # the service's secrets, as in prod
    monkeypatch.setenv("SMTP_URL", "smtp://user:hunter2@mail")
    opened = sandbox.open_render_pool(2, LIMITS)
    assert opened is not None
    assert opened.wait_idle(2, START_SECONDS), "the pool never had two warm children"
    yield opened
    sandbox.close_render_pool()


def _alive(pid: int) -> bool:
    """Running (a reaped child's /proc entry is gone; a zombie would show state Z)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _refilled(pool: ChildPool, old: set[int]) -> set[int]:
    return wait_for(lambda: set(pool.idle_pids()) if len(pool.idle_pids()) == 2 and set(pool.idle_pids()) != old
                    else None, timeout=START_SECONDS, message="the pool to replace its used child")


def test_each_child_renders_once_and_is_replaced(pool: ChildPool) -> None:
    seen: set[int] = set()
    for number in range(3):
        before = set(pool.idle_pids())
        first = pool.idle_pids()[0]  # the one take() hands out
        assert "<h1>Run 42</h1>" in render_report("# Run {{ 6 * 7 }}", {}, LIMITS).html
        assert not _alive(first), "a pool child lived on after its render"
        after = _refilled(pool, before)
        assert first not in after and len(after - before) == 1, (number, before, after)
        seen |= before
    assert len(seen) >= 4  # three renders, three fresh processes beside the spare


def test_a_waiting_child_has_its_limits_and_no_secrets_before_any_job(pool: ChildPool) -> None:
    for pid in pool.idle_pids():
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert _limit(limits, "Max address space") == str(LIMITS.memory_bytes)
        assert _limit(limits, "Max file size") == "0"
        assert _limit(limits, "Max open files") == "32"
        assert _limit(limits, "Max cpu time") != "unlimited"
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {item.split(b"=", 1)[0].decode() for item in environ if item}
        assert names <= {"PATH", "LANG", "LC_ALL"}, names
        assert b"secret" not in b"".join(environ) and b"hunter2" not in b"".join(environ)


def _limit(table: str, name: str) -> str:
    for line in table.splitlines():
        if line.startswith(name):
            return line[len(name):].split()[0]
    raise AssertionError(f"{name} not in /proc limits")


@pytest.mark.parametrize(("body", "kinds"), [(INFINITE_LOOP, {"cpu", "timeout"}), (MEMORY_BOMB, {"memory"}),
                                             ("{{ 'x' * 300000 }}", {"limit"})], ids=["loop", "memory", "output"])
def test_limits_hold_in_pool_children(pool: ChildPool, body: str, kinds: set[str]) -> None:
    used = pool.idle_pids()[0]
    with pytest.raises(RenderError) as caught:
        render_report(body, {}, LIMITS)
    assert caught.value.kind in kinds, caught.value.to_dict()
    assert not _alive(used)
    assert "<p>fine</p>" in render_report("fine", {}, LIMITS).html  # the next render is unharmed


def test_other_limits_get_a_cold_child_and_leave_the_pool_alone(pool: ChildPool) -> None:
    before = set(pool.idle_pids())
    with pytest.raises(RenderError) as caught:
        render_report(MEMORY_BOMB, {}, RenderLimits(memory_bytes=256 * 1024 * 1024))
    assert caught.value.kind == "memory"
    assert set(pool.idle_pids()) == before and all(_alive(pid) for pid in before)


def test_a_child_that_dies_while_waiting_is_replaced(pool: ChildPool) -> None:
    before = set(pool.idle_pids())
    victim = pool.idle_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: not _alive(victim), timeout=10, message="the killed child to die")
    assert "<p>ok</p>" in render_report("ok", {}, LIMITS).html  # take() skips the dead one, first in line
    assert victim not in pool.idle_pids()
    assert victim not in _refilled(pool, before)


def test_stale_children_are_replaced_without_renders() -> None:
    pool = ChildPool(sandbox.MODULE, sandbox.child_args(LIMITS), 1, max_age_seconds=0.5, check_seconds=0.1).start()
    try:
        assert pool.wait_idle(1, START_SECONDS)
        first = pool.idle_pids()[0]
        wait_for(lambda: pool.idle_pids() and pool.idle_pids()[0] != first, timeout=START_SECONDS,
                 message="a stale child to be replaced")
        assert not _alive(first)
    finally:
        pool.close()


def test_close_kills_and_reaps_every_waiting_child() -> None:
    pool = ChildPool(sandbox.MODULE, sandbox.child_args(LIMITS), 2).start()
    assert pool.wait_idle(2, START_SECONDS)
    pids = pool.idle_pids()
    pool.close()
    assert not any(_alive(pid) for pid in pids)
    assert pool.take() is None


def test_a_cancelled_async_render_kills_its_pool_child(pool: ChildPool) -> None:
    used = pool.idle_pids()[0]

    async def scenario() -> None:
        task = asyncio.create_task(render_report_async(INFINITE_LOOP, {}, LIMITS))
        for _ in range(500):  # until the render has its child (an infinite loop: it only ends when killed)
            if used not in pool.idle_pids():
                break
            await asyncio.sleep(0.01)
        assert used not in pool.idle_pids(), "the render never took its child"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    wait_for(lambda: not _alive(used), timeout=5, message="the cancelled render's child to be gone")


def test_web_and_worker_in_one_process_share_one_pool() -> None:
    """SERVICE_MODE=all: both halves open the pool; it closes when the last one closes it."""
    first = sandbox.open_render_pool(1, LIMITS)
    second = sandbox.open_render_pool(1, LIMITS)
    assert first is not None and first is second
    assert first.wait_idle(1, START_SECONDS)
    pids = first.idle_pids()
    sandbox.close_render_pool()
    assert sandbox.RENDER_POOL.current is first and all(_alive(pid) for pid in pids)
    sandbox.close_render_pool()
    assert sandbox.RENDER_POOL.current is None and not any(_alive(pid) for pid in pids)
    assert sandbox.open_render_pool(0) is None


def _render_with(pool: ChildPool) -> None:
    proc = pool.take()
    assert proc is not None, "no warm child"
    done = child.communicate(proc, sandbox._payload("# x", {}, LIMITS), LIMITS.wall_seconds)
    pool.release()
    assert done.returncode == 0, done.stderr


def test_a_replacement_waits_while_a_spare_is_ready_but_not_when_none_is() -> None:
    pool = ChildPool(sandbox.MODULE, sandbox.child_args(LIMITS), 2, respawn_delay_seconds=120).start()
    try:
        assert pool.wait_idle(2, START_SECONDS)
        _render_with(pool)  # a spare is left: its replacement is held back (120 s here)
        assert pool.started_total == 2 and len(pool.idle_pids()) == 1
        _render_with(pool)  # no spare left: a replacement starts at once, long before the 120 s
        assert pool.wait_idle(1, START_SECONDS), "the pool did not refill when it had no spare"
        assert pool.started_total >= 3
    finally:
        pool.close()
