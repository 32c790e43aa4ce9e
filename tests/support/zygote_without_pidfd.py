"""The zygote on a kernel without pidfds (some gVisor versions): ``os.pidfd_open`` fails with ENOSYS."""

from __future__ import annotations

import errno
import os
import sys

from common.reports import zygote


def _no_pidfds(pid: int, flags: int = 0) -> int:
    raise OSError(errno.ENOSYS, "pidfd_open is not implemented")


os.pidfd_open = _no_pidfds
sys.exit(zygote.main(sys.argv[1:]))
