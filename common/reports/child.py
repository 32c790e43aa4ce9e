"""Run one piece of untrusted work in a short-lived, limited child process: the one mechanism that the
render (``render_child``) and the PDF layout (``pdf_child``) share.

The parent (``run_child`` / ``run_child_async``, or ``spawn`` ahead of the job and ``communicate`` with
it: the render pool) starts ``python -E -s -m <module>`` with:

- a clean environment (``PATH``, ``LANG``, ``LC_ALL`` only): no ``DATABASE_URL``, tokens or SMTP
  passwords reach the child, whatever the worker's environment holds;
- its own session (``start_new_session``), so a kill reaches the child alone;
- a wall-clock deadline: the parent kills the child when it passes (sleeping or blocked work counts too).

The child (``apply_limits``, called after its imports and before it touches the input) lowers its own
address space (``RLIMIT_AS``), CPU seconds (``RLIMIT_CPU``: SIGXCPU, then SIGKILL), file writes (none) and
file descriptors (32). ``death_kind`` names what ended a child that did not answer, so a memory kill is
not reported as a CPU one.

The service itself is never forked: it is a threaded asyncio process, and a fork would copy locks held by
other threads and its database connections. The pools instead fork from a zygote (``common.reports.zygote``),
a single-threaded interpreter started here like any child that has only imported and warmed up; what this
module calls a child may be either (``ChildProcess``).
"""

from __future__ import annotations

import math
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from common.process_guard import drop_capabilities

ROOT = Path(__file__).resolve().parents[2]  # the directory holding the `common` package
READY = b"ready\n"  # what a child started ahead of its job writes once its limits hold (common/reports/pool.py)


class ChildProcess(Protocol):
    """What the pools use of a child: a ``subprocess.Popen``, or a zygote's ``ForkedChild``."""

    pid: int

    @property
    def returncode(self) -> int | None: ...
    @property
    def stdout(self) -> IO[bytes] | None: ...
    def poll(self) -> int | None: ...
    def kill(self) -> None: ...
    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]: ...


@dataclass(frozen=True)
class ChildLimits:
    wall_seconds: float
    cpu_seconds: float
    memory_bytes: int


@dataclass(frozen=True)
class ChildExit:
    """How a child ended: its exit status (negative: the signal that killed it) and what it wrote."""

    returncode: int | None  # None: the parent killed it at the deadline
    stdout: bytes
    stderr: bytes

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def command(module: str) -> list[str]:
    # -E: ignore PYTHON* variables; -s: no user site-packages. cwd=ROOT makes `common` importable.
    return [sys.executable, "-E", "-s", "-m", module]


def environment() -> dict[str, str]:
    """Only what an interpreter needs: the worker's secrets (DATABASE_URL, ...) stay behind."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def run_child(module: str, payload: bytes, wall_seconds: float) -> ChildExit:
    """Run ``module`` with ``payload`` on stdin; blocks until it exits or the deadline kills it."""
    try:
        done = subprocess.run(command(module), input=payload, capture_output=True, timeout=wall_seconds,
                              cwd=ROOT, env=environment(), start_new_session=True, check=False)
    except subprocess.TimeoutExpired:  # run() has killed and reaped the child
        return ChildExit(None, b"", b"")
    return ChildExit(done.returncode, done.stdout, done.stderr)


async def run_child_async(module: str, payload: bytes, wall_seconds: float) -> ChildExit:
    """Like ``run_child`` but awaitable; kills the child if the awaiting task is cancelled."""
    import asyncio  # here, not at the top: the children import this module and never need it

    proc = await asyncio.create_subprocess_exec(
        *command(module), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=ROOT, env=environment(), start_new_session=True)
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(payload), wall_seconds)
    except TimeoutError:
        return ChildExit(None, b"", b"")
    finally:
        if proc.returncode is None:  # deadline passed or the caller was cancelled
            proc.kill()
            await proc.wait()
    return ChildExit(proc.returncode, stdout, stderr)


def apply_limits(memory_bytes: int, cpu_seconds: float) -> None:
    """In the child: lower this process's limits; the kernel enforces them even against C code."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft = math.ceil(spent + cpu_seconds)
    # Past the soft limit the kernel sends SIGXCPU (fatal), past the hard one SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
    drop_capabilities()  # a root service's child would hold CAP_SYS_PTRACE (common/process_guard.py)


def death_kind(done: ChildExit) -> str:
    """What ended a child that gave no answer: timeout, cpu, memory, or internal (anything else).

    Memory: a MemoryError the child could not report, or a SIGKILL/SIGSEGV/SIGABRT that came with no
    CPU overrun (C code that fails to allocate under RLIMIT_AS aborts; the OOM killer sends SIGKILL)."""
    if done.timed_out:
        return "timeout"
    if done.returncode == -signal.SIGXCPU:
        return "cpu"
    if b"MemoryError" in done.stderr or b"Cannot allocate memory" in done.stderr:
        return "memory"
    if done.returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
        # SIGKILL after SIGXCPU was ignored is the CPU hard limit; otherwise the OOM killer or a failed
        # allocation in C. The child's rusage is not ours to read, so ask the stderr first.
        return "cpu" if b"CPU time limit" in done.stderr else "memory"
    return "internal"


# -- started ahead of its job (the render pool, common/reports/pool.py) -------------------------------------
# The child applies its limits from its command line, says ``ready``, and only then reads its job: a
# child can be started before there is a job, and waits warm without having seen any untrusted input.

def spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    """Start ``module`` with ``args`` (its limits) in its own session, clean environment, pipes unbuffered."""
    return subprocess.Popen([*command(module), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0, cwd=ROOT, env=environment(),
                            start_new_session=True)


def communicate(proc: ChildProcess, payload: bytes, wall_seconds: float) -> ChildExit:
    """Hand ``payload`` to a started child, wait for its answer; kill it at the deadline. Always reaps it
    (``proc.kill()`` from another thread, e.g. a cancelled caller, ends the wait at once)."""
    try:
        stdout, stderr = proc.communicate(payload, timeout=wall_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()  # reap it and close its pipes
        return ChildExit(None, b"", b"")
    return ChildExit(proc.returncode, stdout, stderr)
