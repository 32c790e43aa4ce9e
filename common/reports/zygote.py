"""The warm parent of one-use children: ``python -E -s -m common.reports.zygote MODULE CONTROL_FD``.

A fresh interpreter per render or PDF costs its imports and warm-up every time: 157 ms of CPU for a render
child and 524 ms for a PDF child before the job starts (docs/benchmarks.md), which at one report a second
was most of a core. This process pays them once: it imports ``MODULE`` (``render_child`` or ``pdf_child``)
and runs its ``prepare()`` (the imports and the trusted warm-up), then forks one child per request. Each
child is what a fresh interpreter would have been after its imports, and goes on exactly as one does
(``MODULE.serve``): lower its limits, say ``READY``, read its one job, answer, exit.

What keeps the sandbox as it was:

- This process never sees untrusted input. Its only input is the control socket from its own parent
  (``common.reports.zygote_client``): "fork" with the child's limits (the same command-line arguments a
  fresh child gets) and the three pipe ends to give the child as stdin, stdout, stderr. Jobs and answers
  go through those pipes between the service and the child; none passes through here.
- It starts like any child (``common.reports.child``: a clean environment, its own session) and, before it
  forks anything, is made non-dumpable and drops every capability (``no_new_privs``): a child that
  escapes the template sandbox cannot ptrace it or its siblings, and holds no secret it could have copied.
- A child gets its own session, only fds 0-2, the default signal handlers, and then its limits
  (``apply_limits``: memory, CPU seconds from its own start, no file writes, 32 fds). Python reseeds
  ``random`` in a forked child; children of one zygote share its hash seed and memory layout, which tell
  a template nothing it could not see in its own output.
- It is single-threaded (``fork`` copies only the calling thread; nothing here holds a lock across it).

Replies on the control socket (SOCK_SEQPACKET: one message per datagram): ``ready`` once prepared; ``pid N``
with a pidfd of the child after each fork (the service signals the child through it: never a reused pid);
``exit N CODE`` when a child has been reaped (CODE as ``Popen.returncode``: negative for a signal).
``retire`` (the pool replaces a zygote that has lived ``max_age``) stops the forks; the zygote then leaves
once its last child has been reaped, so that a render at work is never cut short by the replacement. A parent
that dies or closes the socket ends this process (EOF, when the service's last copy of its end closes), and
this process kills and reaps its children first: a child's answer has nobody to go to any more, and a
child left behind would be reparented to PID 1, which in our container is the service and reaps no
strangers. (No ``PR_SET_PDEATHSIG`` here: it fires when the *thread* that started us ends, i.e. whenever a
pool's keeper thread stops.)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import signal
import socket
import sys
import threading
from types import ModuleType

MAX_MESSAGE = 4096


def main(argv: list[str]) -> int:
    module_name, control_fd = argv[0], int(argv[1])
    from common.process_guard import drop_capabilities, seal_secrets

    module = importlib.import_module(module_name)
    module.prepare()
    seal_secrets(())  # nothing to remove (a clean environment): makes it non-dumpable
    drop_capabilities()
    if threading.active_count() != 1:  # fork would copy a thread's held locks into the child
        print(f"zygote: {module_name} started threads; refusing to fork", file=sys.stderr)
        return 70
    control = socket.socket(fileno=control_fd)
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so the wake-up fd hears it
    control.sendall(b"ready")
    return _serve(module, control, wake_read)


def _serve(module: ModuleType, control: socket.socket, wake_read: int) -> int:
    children: set[int] = set()
    retiring = False
    while True:
        if retiring and not children:
            return 0
        readable, _, _ = select.select([control.fileno(), wake_read], [], [])
        if wake_read in readable:
            while True:
                try:
                    if not os.read(wake_read, 512):
                        break
                except BlockingIOError:
                    break
        _reap(children, control)
        if control.fileno() not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
        if not message:  # the service closed its end or died: nobody can take a child's answer now
            _end(children)
            return 0
        words = message.decode().split()
        if words == ["retire"] and not fds:  # replaced by a newer zygote: no more forks; leave with the last child
            retiring = True
            continue
        if retiring or len(fds) != 3 or not words or words[0] != "fork":
            for fd in fds:
                os.close(fd)
            print(f"zygote: unexpected message {message[:80]!r}", file=sys.stderr)
            continue
        pid = _fork(module, words[1:], fds)
        children.add(pid)
        try:
            pidfd = os.pidfd_open(pid)  # before any reap: the pid cannot have been reused yet
        except OSError:  # a kernel (or gVisor) without pidfds: the service falls back to the pid
            control.sendall(f"pid {pid}".encode())
            continue
        try:
            socket.send_fds(control, [f"pid {pid}".encode()], [pidfd])
        finally:
            os.close(pidfd)


def _fork(module: ModuleType, args: list[str], fds: list[int]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    status = 70
    try:
        os.setsid()  # its own session and process group, as a fresh child has
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the control socket, the wake-up pipe, the received fds
        status = int(module.serve(args))
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # whatever happens, never return into the zygote's loop
        import traceback

        traceback.print_exc()
    os._exit(status)


def _end(children: set[int]) -> None:
    """Kill and reap every child, so that none lives on as an orphan or a zombie of PID 1."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # not yet reaped: the pid is still this child's
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    children.clear()


def _reap(children: set[int], control: socket.socket) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        try:
            control.sendall(f"exit {pid} {code}".encode())
        except OSError:
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
