"""Sizes of every phase: ``SMOKE`` (tiny, report-generator alone, for ``make test``) and ``FULL``."""

from __future__ import annotations

from dataclasses import dataclass, field

PHASES = ("latency", "throughput", "enqueue", "scale", "web", "poll")


@dataclass(frozen=True)
class Drain:
    jobs: int
    procs: int
    tuned: bool  # False: each system's default concurrency; True: its tuned setting

    def label(self) -> str:
        return f"{self.jobs:,} jobs · {self.procs} proc · {'tuned' if self.tuned else 'default'}"


@dataclass(frozen=True)
class Sizes:
    repeats: int
    latency_jobs: int
    latency_spacing: float  # seconds between single inserts (±25 % jitter)
    latency_limit: float  # seconds per latency repeat
    drains: list[Drain]
    drain_limit: dict[int, float]  # seconds a drain of that many jobs may run before it is cut
    enqueue_duration: float
    enqueue_clients: int
    batch_size: int
    scale_rows: int
    scrapes: int
    web_clients: int
    web_duration: float
    poll_jobs: int
    poll_interval: float
    competitors: bool = True
    notes: list[str] = field(default_factory=list)


def _drains(jobs: int, procs: list[int], tuned: list[bool]) -> list[Drain]:
    return [Drain(jobs, p, t) for p in procs for t in tuned]


def full(cores: int) -> Sizes:
    return Sizes(
        repeats=3, latency_jobs=200, latency_spacing=0.025, latency_limit=60,
        drains=_drains(10_000, [1, cores, 2 * cores], [False, True]) + _drains(100_000, [1, cores], [True]),
        drain_limit={10_000: 12.0, 100_000: 12.0},
        enqueue_duration=2.0, enqueue_clients=16, batch_size=1000,
        scale_rows=1_000_000, scrapes=20, web_clients=50, web_duration=5.0,
        poll_jobs=10, poll_interval=2.0,
    )


def smoke(cores: int) -> Sizes:
    return Sizes(
        repeats=1, latency_jobs=15, latency_spacing=0.02, latency_limit=20,
        drains=_drains(300, [1, cores], [False, True]),
        drain_limit={300: 20.0},
        enqueue_duration=0.3, enqueue_clients=16, batch_size=100,
        scale_rows=20_000, scrapes=3, web_clients=10, web_duration=0.5,
        poll_jobs=3, poll_interval=1.0, competitors=False,
    )
