"""Keep a service's secrets out of reach of the processes it starts (issue 11, item 6).

The render and PDF children run untrusted templates as the service's own user. After a sandbox escape,
code of the same uid could read ``/proc/<service pid>/environ`` (``DATABASE_URL`` in clear) or
``/proc/<service pid>/mem``. Two measures, taken by every service once its ``Settings`` are read:

- ``seal_secrets``: remove the secret variables from the environment, in every copy the process holds:
  ``os.environ`` (and so ``getenv`` and every child started with the inherited environment), the
  ``posix.environ`` mapping, and the C strings themselves, which are overwritten with NULs before
  ``unsetenv``. The last matters because ``/proc/<pid>/environ`` shows the *initial* environment block on
  the process's stack, not the current ``environ`` array: unsetting alone leaves the value readable there.
- ``PR_SET_DUMPABLE`` 0: the kernel then lets no other process without ``CAP_SYS_PTRACE`` read this one's
  ``environ``, ``mem``, ``maps`` or attach a debugger, even when it has the same uid (and no core dumps
  are written). ``py-spy`` or ``gdb`` need root for such a process.

In the child, ``drop_capabilities`` removes every capability and sets ``no_new_privs``: a child of a
service that runs as root (``docker run --user 0``, a root shell) would otherwise hold ``CAP_SYS_PTRACE``
and could read a non-dumpable parent anyway. For the container's user (uid 10001, no capabilities) it
changes nothing.

``PG*`` variables (``PGPASSWORD``) are left alone: libpq reads them at every new connection. Put the
password in ``DATABASE_URL`` instead (docs/security.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

from common.config import Settings

log = logging.getLogger(__name__)

SECRET_ENV = ("DATABASE_URL", "LISTEN_DATABASE_URL", "SMTP_URL", "METRICS_TOKEN")
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True)


def seal_secrets(names: tuple[str, ...] = SECRET_ENV) -> list[str]:
    """Remove ``names`` from this process's environment and make it non-dumpable; returns what was removed.

    Call only after ``Settings.from_env()``: nothing reads these variables again (a supervisor hands them
    to its worker processes from ``Settings``: ``secret_environment``)."""
    libc = _libc()
    removed = [name for name in names if name in os.environ]
    if libc is not None:
        _wipe_c_environ(libc, removed)
    import posix

    for name in removed:
        os.environ.pop(name, None)  # unsetenv too
        posix.environ.pop(name.encode(), None)
    if libc is not None and libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("could not make the process non-dumpable (errno %d)", ctypes.get_errno())
    return removed


def _wipe_c_environ(libc: ctypes.CDLL, names: list[str]) -> None:
    """Overwrite the values of ``names`` in the C ``environ`` strings (the initial block included)."""
    prefixes = [f"{name}=".encode() for name in names]
    environ = ctypes.POINTER(ctypes.c_void_p).in_dll(libc, "environ")
    index = 0
    while environ[index]:
        address = environ[index]
        assert address is not None
        entry = ctypes.string_at(address)
        for prefix in prefixes:
            if entry.startswith(prefix):
                ctypes.memset(address + len(prefix), 0, len(entry) - len(prefix))
        index += 1


def signal_when_parent_dies(signum: int) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent exits; False where it cannot.

    Safe between fork and exec (``preexec_fn``): it only calls ``prctl``. The signal follows the thread
    that forked us, which for our parents (the event loop's thread, ``make run``) is the process itself."""
    libc = _libc()
    return libc is not None and libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0


def leave_with_parent(parent_pid: int, stop: Callable[[], None]) -> None:
    """A ``WORKER_PROCESSES`` child: SIGTERM when the supervisor dies, however it dies (``kill -9``, OOM).

    Without it a child outlives its parent as an orphan that keeps claiming jobs with nobody to stop or
    watch it. SIGTERM, not SIGKILL: the child stops claiming and gives its jobs back, as on any stop.
    If the parent died before we asked (it exited between our fork and here), stop now."""
    if not signal_when_parent_dies(signal.SIGTERM):
        log.warning("cannot ask to be told when the worker supervisor dies (prctl failed)")
    if os.getppid() != parent_pid:
        log.warning("the worker supervisor (pid %d) is gone: stopping", parent_pid)
        stop()


def secret_environment(settings: Settings, database_url: str) -> dict[str, str]:
    """The sealed variables again, from ``settings``, for a process that must have them (worker processes)."""
    values = {"DATABASE_URL": database_url, "LISTEN_DATABASE_URL": settings.listen_database_url,
              "SMTP_URL": settings.smtp_url, "METRICS_TOKEN": settings.metrics_token}
    return {name: value for name, value in values.items() if value}


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """In a child: no capabilities now or after an ``execve``, and no way to gain any (``no_new_privs``)."""
    libc = _libc()
    if libc is None:
        return
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    for cap in range(64):  # the bounding set (needs CAP_SETPCAP, which only a privileged child has)
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()  # all zero: effective, permitted and inheritable emptied
    with contextlib.suppress(AttributeError):
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed: the child would keep its capabilities")
