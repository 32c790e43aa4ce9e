"""CPU seconds per job, by process: the worker processes and each database backend serving them.

A drain's rate says how fast; this says what each job costs and where, which is what decides whether a
change can help: on a 2-core machine the worker and its backends share two cores, so a drain is bounded by
their CPU per job put together, however well the work overlaps. Read from ``/proc/<pid>/stat`` (user +
system time) at the start and the end of the measured interval, so it needs the server on this machine
(the bench's always is) and permission to read its processes (the same user, or root).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (its threads included), None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every core, every process)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICKS  # minus idle and iowait


def backends(url: str) -> dict[int, str]:
    """The client backends connected to ``url``'s database (not this query's own), by pid: their
    ``application_name``, or the client's address when it set none."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, coalesce(nullif(application_name, ''), 'client ' || coalesce(client_port::text, '?'))"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'").fetchall()
    return {int(pid): str(name) for pid, name in rows}


@dataclass
class CpuMeter:
    """Start it when the measured work starts (``start``), stop it when it ends (``stop``)."""

    processes: dict[int, str]  # pid -> label
    started: dict[int, float] = field(default_factory=dict)
    machine_started: float = 0.0
    used: dict[str, float] = field(default_factory=dict)  # label -> CPU seconds (labels shared are summed)
    machine_used: float = 0.0

    def start(self) -> None:
        self.machine_started = machine_busy_seconds()
        self.started = {pid: s for pid in self.processes if (s := process_cpu_seconds(pid)) is not None}

    def stop(self) -> None:
        self.machine_used = machine_busy_seconds() - self.machine_started
        for pid, before in self.started.items():
            after = process_cpu_seconds(pid)
            if after is not None:
                label = self.processes[pid]
                self.used[label] = self.used.get(label, 0.0) + after - before

    def per_job_us(self, jobs: int) -> dict[str, float]:
        """Microseconds of CPU per job, by label, with ``machine`` (everything busy, all cores)."""
        out = {label: seconds / jobs * 1e6 for label, seconds in sorted(self.used.items()) if seconds > 0}
        out["machine"] = self.machine_used / jobs * 1e6
        return out
