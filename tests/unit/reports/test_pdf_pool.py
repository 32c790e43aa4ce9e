"""The warm PDF pool: real PDF children, each laying out one export, holding its limits and no secrets
before its job, replaced after it; a child that crashes at work fails that export clearly (retried by the
queue) and the pool goes on with a new child."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.reports import pdf
from common.reports.errors import ExportRefused
from common.reports.pdf import PdfLimits, make_pdf_async
from common.reports.pool import ChildPool
from tests.support.processes import wait_for

LIMITS = PdfLimits(wall_seconds=60, cpu_seconds=30, memory_bytes=320 * 1024 * 1024)
SMALL = "<h1>Invoice</h1><table><tr><th>n</th></tr><tr><td>1</td></tr></table>"
START_SECONDS = 60  # a cold interpreter with xhtml2pdf on a loaded machine; only bounds a pool that never fills


def _table(rows: int) -> str:
    return "<table>" + "".join(f"<tr><td>row {i}</td><td>{i * i}</td></tr>" for i in range(rows)) + "</table>"


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChildPool]:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/prod")  # the worker's secrets, as in prod
    opened = pdf.open_pdf_pool(1, LIMITS)
    assert opened is not None
    assert opened.wait_idle(1, START_SECONDS), "the pool never had a warm child"
    yield opened
    pdf.close_pdf_pool()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _limit(limits: str, name: str) -> str:
    for line in limits.splitlines():
        if line.startswith(name):
            return line[len(name):].split()[0]
    raise AssertionError(f"{name} not in /proc limits")


def _replacement(pool: ChildPool, old: int) -> int:
    return wait_for(lambda: next((p for p in pool.idle_pids() if p != old), None), timeout=START_SECONDS,
                    message="the pool to replace its used child")


def test_a_warm_child_makes_one_pdf_and_is_replaced(pool: ChildPool) -> None:
    for _ in range(2):
        [warm] = pool.idle_pids()
        started = pool.started_total
        data = asyncio.run(make_pdf_async(SMALL, "Invoice", {"region": "Nord"}, LIMITS))
        assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:]
        assert not _alive(warm), "a warm PDF child lived on after its export"
        new = _replacement(pool, warm)
        assert new != warm and pool.started_total == started + 1  # the export used the warm child


def test_a_waiting_child_has_its_limits_and_no_secrets_before_any_job(pool: ChildPool) -> None:
    [pid] = pool.idle_pids()
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert _limit(limits, "Max address space") == str(LIMITS.memory_bytes)
    assert _limit(limits, "Max file size") == "0"
    assert _limit(limits, "Max open files") == "32"
    assert _limit(limits, "Max cpu time") != "unlimited"
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(item.startswith(b"DATABASE_URL=") for item in environ)
    assert b"pdf_child" in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_the_deadline_holds_in_a_warm_child(pool: ChildPool) -> None:
    [warm] = pool.idle_pids()
    tight = PdfLimits(wall_seconds=1, cpu_seconds=LIMITS.cpu_seconds, memory_bytes=LIMITS.memory_bytes)
    assert pdf.child_args(tight) == pdf.child_args(LIMITS)  # same command line: the warm child takes it
    with pytest.raises(ExportRefused) as refused:
        asyncio.run(make_pdf_async(_table(1500), "Big", {}, tight))  # seconds of layout
    assert refused.value.kind == "timeout"
    assert not _alive(warm)
    _replacement(pool, warm)


def test_a_child_that_crashes_at_work_fails_clearly_and_a_new_child_takes_over(pool: ChildPool) -> None:
    [warm] = pool.idle_pids()

    async def crash() -> bytes:
        export = asyncio.create_task(make_pdf_async(_table(1500), "Big", {}, LIMITS))
        await asyncio.to_thread(wait_for, lambda: warm not in pool.idle_pids(), timeout=10, interval=0.01,
                                message="the export to take the warm child")
        await asyncio.sleep(0.2)  # at work: it has read its job
        os.kill(warm, signal.SIGTERM)  # dies for no reason of the report's
        return await export

    with pytest.raises(RuntimeError, match=r"the PDF process failed \(exit status -15\)"):
        asyncio.run(crash())
    assert not _alive(warm)
    new = _replacement(pool, warm)
    assert asyncio.run(make_pdf_async(SMALL, "After", {}, LIMITS)).startswith(b"%PDF")
    assert not _alive(new)


def test_other_limits_get_a_cold_child_and_leave_the_pool_alone(pool: ChildPool) -> None:
    [warm] = pool.idle_pids()
    other = PdfLimits(memory_bytes=LIMITS.memory_bytes + 1024 * 1024)
    assert asyncio.run(make_pdf_async(SMALL, "Cold", {}, other)).startswith(b"%PDF")
    assert pool.idle_pids() == [warm] and _alive(warm)
