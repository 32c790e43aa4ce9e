"""The service's side of a zygote (``common.reports.zygote``): start it, ask it for children, watch them.

``Zygote.start()`` runs ``python -E -s -m common.reports.zygote MODULE FD`` as any child is run
(``common.reports.child``: clean environment, own session, ``cwd`` the checkout) with one end of a
SOCK_SEQPACKET socket pair, and waits for its ``ready``. ``fork(args)`` makes three pipes, sends the child's
ends with "fork ARGS", and gets back the child's pid and a pidfd: a ``ForkedChild``, which the pools use
exactly as a ``subprocess.Popen`` (``poll``, ``kill``, ``communicate``, ``stdout``), so that the deadline,
the kill, the reaping and ``death_kind`` work the same for forked and fresh children.

The child is the zygote's, not ours: its exit status comes from the zygote's ``exit`` messages (read by
one thread per zygote), and ``kill()`` signals the pidfd, which names that process and no other even
after it has been reaped (where the kernel has no pidfds, e.g. some gVisor versions, the zygote sends the
pid alone and ``kill()`` uses it while the zygote has not reported the child reaped). A zygote that dies
(killed, crashed) fails every waiting ``fork`` and marks the children whose exit it can no longer report
as ``LOST`` (after killing them through their pidfds): their renders fail as "internal", and the pool
starts another zygote.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import threading
import time

from common.reports import child

log = logging.getLogger(__name__)
MODULE = "common.reports.zygote"
# The exit status of a child whose zygote died before reporting it (the child is killed through its pidfd):
# no signal number, so that ``death_kind`` calls it "internal", not a memory or CPU kill.
LOST = -1000


class Zygote:
    def __init__(self, module: str, process: str = MODULE) -> None:
        self.module = module
        self.process = process  # the zygote's own entry module (tests run a variant)
        self.started = 0.0  # monotonic, once ready
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # one fork request at a time: replies come in order
        self._changed = threading.Condition()
        self._replies: list[tuple[int, int]] = []  # (pid, pidfd) not yet taken by a fork()
        self._exits: dict[int, int] = {}
        self._children: dict[int, ForkedChild] = {}
        self._dead = False
        self._closing = False  # close() asked for the exit: not worth a warning
        self._retired = False  # retire() asked it to leave with its last child

    @property
    def alive(self) -> bool:
        """Running and taking forks (not retired)."""
        return self.running and not self._retired

    @property
    def running(self) -> bool:
        return not self._dead and self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float) -> bool:
        """Start the zygote and wait until it has prepared; False (and nothing left running) if it cannot."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [*child.command(self.process), self.module, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=child.ROOT, env=child.environment(),
                start_new_session=True)
        except OSError as exc:
            ours.close()
            log.warning("cannot start a zygote for %s: %s", self.module, exc)
            return False
        finally:
            theirs.close()
        self._sock = ours
        ours.settimeout(timeout)
        try:
            ready = ours.recv(64) == b"ready"
        except OSError:
            ready = False
        ours.settimeout(None)
        if not ready:
            log.warning("the %s zygote did not start (exit status %s)", self.module, self._proc.poll())
            self.close()
            ours.close()  # no reader thread will close it
            return False
        self.started = time.monotonic()
        threading.Thread(target=self._read, name=f"zygote-{self.module}", daemon=True).start()
        return True

    def fork(self, args: tuple[str, ...], timeout: float = 5.0) -> ForkedChild | None:
        """A new child that will apply ``args`` (its limits) and say ``READY``; None if the zygote cannot."""
        if not self.alive or self._sock is None:
            return None
        with self._lock:
            stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
            stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
            stderr_r, stderr_w = os.pipe2(os.O_CLOEXEC)
            try:
                socket.send_fds(self._sock, [" ".join(("fork", *args)).encode()], [stdin_r, stdout_w, stderr_w])
            except OSError:
                for fd in (stdin_w, stdout_r, stderr_r):
                    os.close(fd)
                return None
            finally:
                for fd in (stdin_r, stdout_w, stderr_w):
                    os.close(fd)
            deadline = time.monotonic() + timeout
            forked: ForkedChild | None = None
            with self._changed:
                while not self._replies and not self._dead and time.monotonic() < deadline:
                    self._changed.wait(deadline - time.monotonic())
                if self._replies:  # registered at once: if the zygote dies now, the reader sees this child
                    pid, pidfd = self._replies.pop(0)
                    forked = ForkedChild(self, pid, pidfd, stdin_w, stdout_r, stderr_r)
                    self._children[pid] = forked
            if forked is None:  # a reply that came late would be taken by the next fork: replace the zygote
                for fd in (stdin_w, stdout_r, stderr_r):
                    os.close(fd)
                if not self._dead:
                    log.warning("the %s zygote did not answer a fork within %.0f s; replacing it",
                                self.module, timeout)
                self.close()
            return forked

    def retire(self) -> None:
        """No more forks; the zygote leaves once its children (idle or at work) have ended, and until then
        still reports their exits. For a zygote that has lived long enough (code or settings on disk may
        have changed): its replacement must not cut a render short."""
        self._retired = self._closing = True
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendall(b"retire")

    def close(self, timeout: float = 2.0) -> None:
        """Stop the zygote: EOF on its socket, after which it kills and reaps its children and exits;
        killed if it has not within ``timeout``."""
        self._dead = self._closing = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        with self._changed:
            self._changed.notify_all()

    # -- what ForkedChild asks ------------------------------------------------------------------------

    def exit_status(self, pid: int) -> int | None:
        with self._changed:
            return self._exits.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while pid not in self._exits:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._changed.wait(left)
            return self._exits[pid]

    def forget(self, pid: int) -> None:
        with self._changed:
            self._exits.pop(pid, None)
            self._children.pop(pid, None)

    # -- the reader thread ------------------------------------------------------------------------------

    def _read(self) -> None:
        assert self._sock is not None
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._sock, 256, 1)
            except OSError:
                message, fds = b"", []
            if not message:
                break
            words = message.decode(errors="replace").split()
            with self._changed:
                if words[0] == "pid" and len(fds) <= 1:
                    self._replies.append((int(words[1]), fds[0] if fds else -1))
                elif words[0] == "exit":
                    self._exits[int(words[1])] = int(words[2])
                else:
                    for fd in fds:
                        os.close(fd)
                self._changed.notify_all()
        with self._changed:  # the zygote is gone: nobody will report the exits of its children now
            self._dead = True
            orphans = [c for pid, c in self._children.items() if pid not in self._exits]
            for pid, pidfd in self._replies:
                self._exits[pid] = LOST
                if pidfd >= 0:
                    os.close(pidfd)
            self._replies.clear()
        for orphan in orphans:
            orphan.kill()
        with self._changed:
            for orphan in orphans:
                self._exits.setdefault(orphan.pid, LOST)
            self._changed.notify_all()
        with contextlib.suppress(OSError):
            self._sock.close()
        if not self._closing and self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(1.0)
            log.warning("the %s zygote exited (status %s)", self.module, self._proc.returncode)


class ForkedChild:
    """A zygote's child, with the parts of ``subprocess.Popen``'s interface the pools use."""

    def __init__(self, zygote: Zygote, pid: int, pidfd: int, stdin: int, stdout: int, stderr: int) -> None:
        self.zygote, self.pid, self._pidfd = zygote, pid, pidfd
        self.stdin = open(stdin, "wb", buffering=0)  # noqa: SIM115 - closed by communicate()
        self.stdout = open(stdout, "rb", buffering=0)  # noqa: SIM115
        self.stderr = open(stderr, "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None
        self.args = [MODULE, zygote.module]
        self._sent = False
        self._out: list[bytes] = []
        self._err: list[bytes] = []

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.exit_status(self.pid)
            if self.returncode is not None:
                self._finish()
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(OSError):
                if self._pidfd >= 0:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                else:  # no pidfds here: the pid, not yet reported reaped (a reuse needs a reap first)
                    os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            code = self.zygote.wait_exit(self.pid, timeout)
            if code is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.returncode = code
            self._finish()
        return self.returncode

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Send ``input`` (once), read stdout and stderr to EOF, wait for the exit; ``TimeoutExpired`` at
        ``timeout`` (call again after ``kill()`` to collect and reap, as with ``Popen``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            pending = memoryview(input or b"") if not self._sent else memoryview(b"")
            self._sent = True
            if not self.stdin.closed:
                if pending:
                    os.set_blocking(self.stdin.fileno(), False)
                    selector.register(self.stdin, selectors.EVENT_WRITE)
                else:
                    self.stdin.close()
            for stream in (self.stdout, self.stderr):
                if not stream.closed:
                    selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                for key, _ in selector.select(left):
                    if key.fileobj is self.stdin:
                        try:
                            written = os.write(self.stdin.fileno(), pending[:65536])
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            written = len(pending)
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(self.stdin)
                            self.stdin.close()
                        continue
                    stream = self.stdout if key.fileobj is self.stdout else self.stderr
                    chunk = os.read(stream.fileno(), 65536)
                    if chunk:
                        (self._out if stream is self.stdout else self._err).append(chunk)
                    else:
                        selector.unregister(stream)
                        stream.close()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return b"".join(self._out), b"".join(self._err)

    def _finish(self) -> None:
        if self._pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
        self._pidfd = -1
        self.zygote.forget(self.pid)
