"""A few warm child processes, each started with its limits applied, used for one job, then replaced.

A fresh interpreter that imports Jinja2, Markdown and the chart code costs about 250 ms before a render of
15-20 ms can start (docs/benchmarks.md). ``ChildPool`` starts ``size`` children ahead of time
(``child.spawn``: clean environment, own session), and each of them imports everything, lowers its
rlimits and says ``ready`` before it reads anything from us (``render_child``). So the sandbox is the
same as a cold child's; only the waiting moved before the click.

- ``take()`` gives a warm child (``None`` when none is ready: the caller starts a cold one, as before);
  the caller hands it its one job (``child.communicate``: deadline, kill, reap), then ``release()``.
  A child is never given a second job: it exits after its answer.
- The keeper thread keeps ``size`` children: idle ones plus those at work, so that a replacement starts
  after the render it replaces and the pool never holds more than ``size`` processes. While a spare is
  still waiting, the replacement starts ``respawn_delay_seconds`` after the render, not at once: its
  imports (~250 ms of CPU) would otherwise compete with storing the report, the SSE event and the page's
  fetch of it (measured: 15-25 ms slower delivery on 2 cores). With no spare left it starts at once.
  The keeper also replaces idle children that died or passed ``max_age_seconds`` (stale: started from
  code or settings that may since have changed on disk).
- ``close()`` kills and reaps every idle and starting child and stops the keeper; a child at work is
  killed by its caller's deadline or cancellation. If the whole service dies, an idle child reads EOF
  on its stdin and exits by itself: no orphans either way.

Children come from the pool's zygote (``common.reports.zygote``: forked from a prepared interpreter, ~3 ms
of CPU instead of a fresh one's imports), which the keeper starts, replaces when it dies and retires after
``max_age_seconds``; while there is none, fresh interpreters (``child.spawn``) as before. A job that finds no
warm child forks one at once (``fork()``) rather than start an interpreter.

Threads, not asyncio: the pool serves sync and async callers and any event loop, and ``Popen`` from a
thread is safe (fork+exec runs no Python code in between).
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.reports import child
from common.reports.zygote_client import Zygote

log = logging.getLogger(__name__)
READY = child.READY


@dataclass
class Warm:
    proc: child.ChildProcess
    started: float  # monotonic


class ChildPool:
    def __init__(self, module: str, args: tuple[str, ...], size: int, *, max_age_seconds: float = 600.0,
                 start_timeout_seconds: float = 30.0, check_seconds: float = 5.0,
                 respawn_delay_seconds: float = 0.5, zygote: bool = True) -> None:
        self.module, self.args, self.size = module, args, size
        self.use_zygote = zygote
        self._zygote: Zygote | None = None
        self._retired: list[Zygote] = []  # replaced zygotes whose children may still be at work
        self._zygote_retry_at = 0.0  # monotonic: after a zygote failed to start, fresh children until then
        self.max_age_seconds = max_age_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.check_seconds = check_seconds
        self.respawn_delay_seconds = respawn_delay_seconds
        self._respawn_at = 0.0  # monotonic: no replacement before then while a spare waits
        self._idle: list[Warm] = []
        self._starting: list[Warm] = []
        self._busy = 0
        self._closed = False
        self._changed = threading.Condition()
        self._keeper: threading.Thread | None = None
        self.started_total = 0  # children started (tests and metrics)

    # -- what callers use ---------------------------------------------------------------------------------

    def start(self) -> ChildPool:
        self._keeper = threading.Thread(target=self._keep, name=f"child-pool-{self.module}", daemon=True)
        self._keeper.start()
        return self

    def take(self) -> child.ChildProcess | None:
        """A warm child that has seen no job, or None; call ``release()`` once its job is done."""
        with self._changed:
            while self._idle and not self._closed:
                warm = self._idle.pop(0)
                if warm.proc.poll() is None:
                    self._busy += 1
                    return warm.proc
                _discard(warm.proc)  # died while idle (killed from outside): the keeper replaces it
                self._changed.notify_all()
            return None

    def release(self) -> None:
        """The child from ``take()`` has been reaped: start its replacement."""
        with self._changed:
            self._busy -= 1
            self._respawn_at = time.monotonic() + self.respawn_delay_seconds
            self._changed.notify_all()

    def fork(self) -> child.ChildProcess | None:
        """A child forked now from the pool's zygote (not counted in the pool; its caller's alone), or None.

        For a job that finds no warm child (a burst): ~2 ms instead of a fresh interpreter's ~160 ms."""
        zygote = self._zygote
        return zygote.fork(self.args) if zygote is not None and zygote.alive else None

    @property
    def zygote_pid(self) -> int | None:
        zygote = self._zygote
        return zygote.pid if zygote is not None and zygote.alive else None

    def idle_pids(self) -> list[int]:
        with self._changed:
            return [w.proc.pid for w in self._idle]

    def wait_idle(self, count: int, timeout: float) -> bool:
        """Until ``count`` children are warm (tests, benchmarks); False after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._idle) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._changed.wait(left)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Kill and reap every child not at work; stop the keeper."""
        with self._changed:
            self._closed = True
            idle, starting = list(self._idle), [w.proc for w in self._starting]
            self._idle.clear()
            self._changed.notify_all()
        for warm in idle:
            _discard(warm.proc)
        for proc in starting:  # the keeper, reading its ready line, sees EOF and reaps it
            if proc.poll() is None:
                proc.kill()
        if self._keeper is not None:
            self._keeper.join(timeout)
        for zygote in [*self._retired, *([self._zygote] if self._zygote is not None else [])]:
            zygote.close()

    # -- the keeper thread ------------------------------------------------------------------------------------

    def _keep(self) -> None:
        failures = 0
        while True:
            with self._changed:
                if self._closed:
                    return
                self._retire_stale()
                missing = self.size - len(self._idle) - len(self._starting) - self._busy
                wait = self._respawn_at - time.monotonic()
                if missing > 0 and self._idle and wait > 0:  # a spare waits: let the report go out first
                    self._changed.wait(wait)
                    continue
            started = [self._spawn() for _ in range(max(0, missing))]
            ready = [w is not None and self._await_ready(w) for w in started]
            failures = 0 if all(ready) else failures + 1
            with self._changed:
                if self._closed:
                    return
                if failures:  # children that cannot start (a broken install?): retry, more slowly each time
                    self._changed.wait(self.check_seconds * min(failures, 6))
                elif len(self._idle) + len(self._starting) + self._busy >= self.size:
                    self._changed.wait(self.check_seconds)  # until a take/release, or the next check

    def _retire_stale(self) -> None:
        now = time.monotonic()
        for warm in list(self._idle):
            if warm.proc.poll() is not None or now - warm.started > self.max_age_seconds:
                self._idle.remove(warm)
                _discard(warm.proc)

    def _spawn(self) -> Warm | None:
        try:
            proc = self._fork_or_none() or child.spawn(self.module, *self.args)
        except OSError as exc:
            log.warning("cannot start a %s process: %s", self.module, exc)
            return None
        warm = Warm(proc, time.monotonic())
        with self._changed:
            if self._closed:
                _discard(proc)
                return None
            self._starting.append(warm)
            self.started_total += 1
        return warm

    def _fork_or_none(self) -> child.ChildProcess | None:
        """In the keeper thread: a child from the zygote, (re)starting the zygote when it is dead or stale."""
        if not self.use_zygote or self._closed:
            return None
        now = time.monotonic()
        zygote = self._zygote
        if zygote is None or not zygote.alive or now - zygote.started > self.max_age_seconds:
            if now < self._zygote_retry_at:
                return None
            if zygote is not None:
                zygote.retire()  # it leaves with its last child: a render at work goes on
                self._retired.append(zygote)
            self._retired = [old for old in self._retired if old.running]
            zygote = Zygote(self.module)
            if not zygote.start(self.start_timeout_seconds):
                self._zygote, self._zygote_retry_at = None, now + self.check_seconds * 6
                return None
            with self._changed:
                if self._closed:
                    zygote.close()
                    return None
                self._zygote = zygote
        return zygote.fork(self.args)

    def _await_ready(self, warm: Warm) -> bool:
        ok = _read_ready(warm.proc, self.start_timeout_seconds)
        with self._changed:
            self._starting.remove(warm)
            if ok and not self._closed:
                self._idle.append(warm)
                self._changed.notify_all()
                return True
            closed = self._closed
        _discard(warm.proc)
        if not closed:
            log.warning("a %s process did not start: exit status %s", self.module, warm.proc.returncode)
        return False


def _read_ready(proc: child.ChildProcess, timeout: float) -> bool:
    """Read the child's ``ready`` line (and nothing more); False on EOF, other output or timeout."""
    assert proc.stdout is not None
    fd, got, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout
    while len(got) < len(READY):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        chunk = os.read(fd, len(READY) - len(got))
        if not chunk:
            return False
        got += chunk
    return got == READY


def _discard(proc: child.ChildProcess) -> None:
    """Kill (if still running) and reap a child, closing its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


class Shared:
    """One process-wide pool, opened by each service that renders (web and worker; ``SERVICE_MODE=all``
    runs both in one process) and closed when the last of them closes it.

    ``run`` / ``run_async`` are how callers use it (the render sandbox and the PDF export alike): a warm
    child when the open pool has one for this module and these limits (its command line), else a cold one
    started with the same command line; either way one job, deadline, kill, reap, and ``READY`` stripped
    from the answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ChildPool | None = None
        self._users = 0

    @property
    def current(self) -> ChildPool | None:
        return self._pool

    def acquire(self, module: str, args: tuple[str, ...]) -> tuple[child.ChildProcess, ChildPool | None]:
        """A warm child for ``module`` with ``args`` (and its pool, to ``release()``), else one forked from
        the pool's zygote, else a fresh interpreter."""
        warm = self._pool
        if warm is not None and warm.module == module and warm.args == args:
            proc = warm.take()
            if proc is not None:
                return proc, warm
            forked = warm.fork()
            if forked is not None:
                return forked, None
        return child.spawn(module, *args), None

    def run(self, module: str, args: tuple[str, ...], payload: bytes, wall_seconds: float) -> child.ChildExit:
        """One job in a (warm or cold) child; blocks until it answers or the deadline kills it."""
        proc, warm = self.acquire(module, args)
        try:
            return _answer(child.communicate(proc, payload, wall_seconds))
        finally:
            if warm is not None:
                warm.release()

    async def run_async(self, module: str, args: tuple[str, ...], payload: bytes,
                        wall_seconds: float) -> child.ChildExit:
        """Like ``run`` but awaitable; kills the child if the awaiting task is cancelled."""
        proc, warm = self.acquire(module, args)
        try:
            done = await asyncio.to_thread(child.communicate, proc, payload, wall_seconds)
        except asyncio.CancelledError:
            proc.kill()  # the thread's wait then ends at once and reaps it
            raise
        finally:
            if warm is not None:
                warm.release()
        return _answer(done)

    def open(self, make: Callable[[], ChildPool]) -> ChildPool:
        with self._lock:
            if self._pool is None:
                self._pool = make().start()
            self._users += 1
            return self._pool

    def close(self) -> None:
        with self._lock:
            self._users -= 1
            pool = self._pool if self._users <= 0 else None
            if pool is not None:
                self._pool, self._users = None, 0
        if pool is not None:
            pool.close()


def _answer(done: child.ChildExit) -> child.ChildExit:
    """The child's exit with the ``ready`` line (written before it read its job) taken off its answer."""
    return child.ChildExit(done.returncode, done.stdout.removeprefix(READY), done.stderr)
