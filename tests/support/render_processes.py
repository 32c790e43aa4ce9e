"""The render processes of a service, found in /proc: its fresh-interpreter render children and the ones
its render zygote forked (``common.reports.zygote``; the zygote itself is not one of them)."""

from __future__ import annotations

from pathlib import Path

RENDER_CHILD = b"common.reports.render_child"
ZYGOTE = b"common.reports.zygote"


def render_processes(parent: int) -> dict[int, int]:
    """Live render processes of ``parent`` and the CPU ticks each has used (utime + stime)."""
    table: dict[int, tuple[int, str, bytes, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), fields[0], cmdline, int(fields[11]) + int(fields[12]))
    zygotes = {pid for pid, (ppid, _, cmdline, _) in table.items() if ppid == parent and ZYGOTE in cmdline}
    return {pid: ticks for pid, (ppid, state, cmdline, ticks) in table.items()
            if state != "Z" and RENDER_CHILD in cmdline and pid not in zygotes
            and (ppid == parent or ppid in zygotes)}


def alive(pid: int) -> bool:
    """Running: not reaped (its /proc entry gone) and not a zombie (state Z)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
