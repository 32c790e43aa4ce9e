"""Helpers every phase uses: starting warmed-up workers, waiting for a drain, commit timestamps."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.systems.base import System, WorkerGroup, scalar


class PhaseError(RuntimeError):
    """A phase could not measure what it should (jobs lost, double execution, a process died)."""


@dataclass
class Target:
    """A system and the URL of its own database."""

    system: System
    url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset(target: Target) -> None:
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(target.system.reset_sql())  # type: ignore[arg-type]


def start_workers(target: Target, procs: int, concurrency: int, log_dir: Path,
                  env: dict[str, str] | None = None, warmup_timeout: float = 60.0) -> WorkerGroup:
    """Start ``procs`` worker processes and return once they have run a few warm-up jobs."""
    specs = []
    for _ in range(procs):
        spec = target.system.worker(target.url, concurrency, free_port())
        spec.env.update(env or {})
        specs.append(spec)
    group = WorkerGroup(specs, log_dir)
    group.start()
    try:
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute(target.system.enqueue_batch_sql(), {"n": 4 * procs})  # type: ignore[arg-type]
        wait_drained(target, group, time.monotonic() + warmup_timeout, what="warm-up")
        time.sleep(0.3)  # let late starters finish connecting and go idle
    except BaseException:
        group.stop()
        raise
    return group


def wait_drained(target: Target, group: WorkerGroup, deadline: float, what: str = "jobs",
                 must_finish: bool = True) -> int:
    """Poll until no unfinished job is left (coarse while many remain); return how many are left."""
    sql = target.system.unfinished_sql()
    with psycopg.connect(target.url, autocommit=True) as conn:
        while True:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
            remaining = int(row[0]) if row else 0
            if remaining == 0:
                return 0
            group.check_alive()
            if time.monotonic() >= deadline:
                if must_finish:
                    raise PhaseError(f"{target.system.name}: {remaining} {what} unfinished at the deadline")
                return remaining
            time.sleep(0.2 if remaining > 2000 else 0.01)


def commit_times(url: str, xids: list[int]) -> dict[int, float]:
    """Commit time (epoch seconds, the server's clock) of each transaction id (needs track_commit_timestamp)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT x, extract(epoch FROM pg_xact_commit_timestamp((x %% 4294967296)::text::xid))::float8 "
            "FROM unnest(%s::bigint[]) AS x", [xids]).fetchall()
    missing = [x for x, ts in rows if ts is None]
    if missing:
        raise PhaseError(f"no commit timestamp for {len(missing)} transactions (track_commit_timestamp off?)")
    return {int(x): float(ts) for x, ts in rows}


def check_exactly_once(target: Target) -> None:
    sql = target.system.check_sql()
    if sql is None:
        return
    bad = scalar(target.url, sql)
    if bad:
        raise PhaseError(f"{target.system.name}: {bad} jobs ran more than once or did not finish")
