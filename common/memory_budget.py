"""How many limited children (renders, PDF layouts) fit beside a service in its container's memory.

Each child's address space is capped (``RLIMIT_AS``: ``RENDER_MEMORY_MB``, ``PDF_MEMORY_MB``), so a
service that runs at most ``slots`` children at once never needs more than::

    RESERVE_MB + pool x POOL_CHILD_MB + pdf_pool x PDF_POOL_CHILD_MB
               + slots x (max(render, PDF child) + per-slot memory of the parent)

(``pool``: the warm render processes, ``RENDER_POOL_SIZE``, that wait idle beside the working ones;
``pdf_pool``: the worker's warm PDF processes, ``PDF_POOL_SIZE``.)

and the container's OOM killer never has to choose (it might choose the worker, and every job beside
it would lose its attempt). ``fitting_slots`` inverts that for the limit of the container
(cgroup v2 ``memory.max``, or v1 ``memory.limit_in_bytes``); ``REPORT_SLOTS`` overrides it.

Measured on 2026-12-02 (docs/benchmarks.md): an idle worker or web holds about 50 MB (RSS); a worker
slot rendering the largest allowed input (2,000,000 dataset cells) holds about 72 MB of parsed rows
besides its child. The address-space cap is an upper bound of what a child can take, not its usual size
(a small report's child peaks near 60 MB), so the budget is safe, not tight.
"""

from __future__ import annotations

from pathlib import Path

RESERVE_MB = 128  # the service itself: ~50 MB idle, plus its pool, buffers and a finished report's JSON
WORKER_PER_SLOT_MB = 96  # a report slot's parsed datasets (72 MB at the 2,000,000-cell cap) and result
WEB_PER_SLOT_MB = 32  # a preview's sample data and answer
POOL_CHILD_MB = 40  # an idle warm render process, imports done (measured: 30 MB RSS)
PDF_POOL_CHILD_MB = 80  # an idle warm PDF process, xhtml2pdf imported and one page laid out (measured: 72 MB RSS)
NO_LIMIT_SLOTS = 2  # no container limit found (a laptop, CI): the historical default
CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a page-rounded 2**63 - 1


def container_memory_bytes(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """This process's memory limit from its cgroup (v2, else v1), or None when there is none."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    entries = [line.split(":", 2) for line in lines if line.count(":") >= 2]
    v2 = [path for number, controllers, path in entries if number == "0" and not controllers]
    v1 = [path for _, controllers, path in entries if "memory" in controllers.split(",")]
    candidates = [root / p.lstrip("/") / "memory.max" for p in v2] + [root / "memory.max"]
    candidates += [root / "memory" / p.lstrip("/") / "memory.limit_in_bytes" for p in v1]
    candidates += [root / "memory" / "memory.limit_in_bytes"]
    for path in candidates:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw == "max":
            return None
        if raw.isdigit():
            return int(raw) if int(raw) < _UNLIMITED else None
    return None


def fitting_slots(memory_bytes: int | None, child_mb: int, per_slot_mb: int, *, ceiling: int,
                  processes: int = 1, pool: int = 0, pdf_pool: int = 0) -> int:
    """Children of ``child_mb`` that fit, with ``per_slot_mb`` each in the parent, beside ``RESERVE_MB``
    and ``pool`` idle warm render children (``pdf_pool`` PDF ones) in ``memory_bytes`` shared by
    ``processes`` such services; at least 1, at most ``ceiling``."""
    if memory_bytes is None:
        return max(1, min(NO_LIMIT_SLOTS, ceiling))
    share_mb = memory_bytes // (1024 * 1024) // max(1, processes)
    idle_mb = pool * POOL_CHILD_MB + pdf_pool * PDF_POOL_CHILD_MB
    fits = (share_mb - RESERVE_MB - idle_mb) // (child_mb + per_slot_mb)
    return max(1, min(int(fits), ceiling))


def needed_mb(slots: int, child_mb: int, per_slot_mb: int, pool: int = 0, pdf_pool: int = 0) -> int:
    """The memory ``slots`` children need at most, with the service itself (for deploy/ checks and docs)."""
    return RESERVE_MB + pool * POOL_CHILD_MB + pdf_pool * PDF_POOL_CHILD_MB + slots * (child_mb + per_slot_mb)
