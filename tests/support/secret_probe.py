"""What a render child could read after a sandbox escape: ``python -m tests.support.secret_probe``.

Started with ``common.reports.child`` exactly like the render and PDF children (clean environment, own
session, the same ``apply_limits``), it tries what escaped template code would try against each target
pid: read ``/proc/<pid>/environ``, ``/proc/<pid>/maps`` and, through ``/proc/<pid>/mem``, the stack,
looking for ``marker`` (a secret's value). It also reports its own environment. Answers one JSON object.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import Any

from common.reports.child import apply_limits


def _attempt(path: str, marker: bytes) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            data = file.read(1 << 20)
    except OSError as exc:
        return {"read": False, "error": type(exc).__name__, "marker": False}
    return {"read": True, "error": None, "marker": marker in data}


def _stack(pid: int, marker: bytes) -> dict[str, Any]:
    """The target's stack (where the initial environment lies) read through ``/proc/<pid>/mem``."""
    try:
        with open(f"/proc/{pid}/mem", "rb") as mem:
            start = end = 0
            try:
                with open(f"/proc/{pid}/maps") as maps:
                    for line in maps:
                        if line.rstrip().endswith("[stack]"):
                            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            except OSError:  # maps denied but mem not: try a plausible address anyway
                pass
            mem.seek(start)
            data = mem.read(end - start) if end else mem.read(4096)
    except OSError as exc:
        return {"read": False, "error": type(exc).__name__, "marker": False}
    return {"read": True, "error": None, "marker": marker in data}


def main() -> int:
    job: dict[str, Any] = pickle.loads(sys.stdin.buffer.read())
    apply_limits(job["memory_bytes"], job["cpu_seconds"])
    answer: dict[str, Any] = {"own_environ": sorted(os.environ)}
    own = _attempt("/proc/self/environ", b"DATABASE_URL")
    answer["own_proc_environ_has_database_url"] = own["marker"]
    for name, target in job["targets"].items():
        marker = str(target["marker"]).encode()
        pid = int(target["pid"])
        answer[name] = {"environ": _attempt(f"/proc/{pid}/environ", marker),
                        "maps": _attempt(f"/proc/{pid}/maps", b"["), "mem": _stack(pid, marker)}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
