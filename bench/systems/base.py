"""What the phases need from a queue: schema, worker command, enqueue SQL, completion and start times."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import psycopg


@dataclass
class WorkerSpec:
    """How one worker process of a system is started."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    port: int | None = None  # health/metrics port, where the system has one


class System(ABC):
    """A queue under test. Every SQL string is run by the bench's own psycopg connection."""

    name: str  # key in results ("report-generator", "procrastinate", ...)
    database: str
    default_concurrency: int
    tuned_concurrency: int
    concurrency_note: str = ""  # what "concurrency" means for this system
    max_procs: int | None = None  # drains with more worker processes than this are not measured, because:
    max_procs_reason: str = ""

    @abstractmethod
    def setup(self, url: str) -> None:
        """Create the system's schema in an empty database."""

    @abstractmethod
    def reset_sql(self) -> str:
        """Remove every job (run between repeats)."""

    @abstractmethod
    def worker(self, url: str, concurrency: int, port: int) -> WorkerSpec:
        """The command of one worker process."""

    @abstractmethod
    def enqueue_one_sql(self, record: bool) -> str:
        """One job, one statement; returns one row (job id as text, txid_current())."""

    @abstractmethod
    def enqueue_batch_sql(self) -> str:
        """``%(n)s`` no-op jobs in one statement."""

    def enqueue_batch(self, conn: psycopg.Connection, n: int) -> None:
        """The batch phase's insert of ``n`` jobs, as the library itself sends it (by default one statement)."""
        conn.execute(self.enqueue_batch_sql(), {"n": n})  # type: ignore[arg-type]

    @abstractmethod
    def unfinished_sql(self) -> str:
        """One row, one count: jobs not yet finished."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Package versions under test."""

    def handler_starts(self, url: str, ids: list[str], stdout_files: list[Path]) -> dict[str, float]:
        """Handler start (epoch seconds) per job id; by default from the workers' ``S <id> <ts>`` lines."""
        starts: dict[str, float] = {}
        for path in stdout_files:
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == "S":
                    starts[parts[1]] = float(parts[2])
        wanted = set(ids)
        return {k: v for k, v in starts.items() if k in wanted}

    def check_sql(self) -> str | None:
        """Optional: one row, one count of jobs that ran more than once or not at all (must be 0)."""
        return None


class WorkerGroup:
    """Worker processes of one system, stdout to files, stopped with SIGTERM then SIGKILL."""

    def __init__(self, specs: list[WorkerSpec], log_dir: Path) -> None:
        self.specs = specs
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stdout_files: list[Path] = []

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for index, spec in enumerate(self.specs):
            out = self.log_dir / f"worker-{index}.out"
            err = self.log_dir / f"worker-{index}.err"
            self.stdout_files.append(out)
            with out.open("wb") as stdout, err.open("wb") as stderr:
                self.processes.append(subprocess.Popen(
                    spec.argv, env={**os.environ, **spec.env}, cwd=spec.cwd, stdout=stdout, stderr=stderr,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                ))

    def check_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                tail = (self.log_dir / f"worker-{index}.err").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {index} exited with {process.returncode}:\n{tail}")

    def stop(self, grace: float = 10.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> WorkerGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def scalar(url: str, sql: str, params: object = None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])
