"""Every Prometheus metric of report-generator, declared once (names and units per DESIGN.md).

Process-local metrics (histograms, counters) are updated by the worker as jobs run. Queue depth is read
from the database at scrape time (``queue_snapshot``), so it is right whichever process is scraped and
however many workers run. Creating a ``Metrics`` object registers nothing globally: each process makes
one registry, which keeps tests and the combined ``SERVICE_MODE=all`` process free of duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.jobs import JobStatus

# From a millisecond pickup to a minute-long report.
WAIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
LAG_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


@dataclass
class QueueSnapshot:
    """Counts per (status, type), and the age of the oldest due job per type; read at scrape time."""

    counts: dict[tuple[str, str], float] = field(default_factory=dict)
    oldest_age_seconds: dict[str, float] = field(default_factory=dict)
    recent_latency: list[dict[str, Any]] = field(default_factory=list)
    # QUEUED jobs per type that no live worker has a handler for (the workers registry); they wait.
    unhandled: dict[str, float] = field(default_factory=dict)


class QueueCollector(Collector):
    """Turns the snapshot the scrape handler just read into gauge families."""

    def __init__(self) -> None:
        self.snapshot: QueueSnapshot | None = None

    def collect(self) -> Any:
        snap = self.snapshot
        if snap is None:
            return
        jobs = GaugeMetricFamily("reportgen_jobs", "Jobs per status and type (QUEUED exact up to 10,000 per "
                                 "type and estimated above, IN_PROGRESS exact, finished states estimated on large "
                                 "tables; docs/operations.md)", labels=["status", "type"])
        for (status, job_type), n in sorted(snap.counts.items()):
            jobs.add_metric([status, job_type], n)
        yield jobs
        oldest = GaugeMetricFamily("reportgen_queue_oldest_age_seconds",
                                   "Age of the oldest due QUEUED job per type", labels=["type"])
        for job_type, age in sorted(snap.oldest_age_seconds.items()):
            oldest.add_metric([job_type], age)
        yield oldest
        unhandled = GaugeMetricFamily("reportgen_jobs_unhandled",
                                      "QUEUED jobs of a type that no live worker has a handler for",
                                      labels=["type"])
        for job_type, n in sorted(snap.unhandled.items()):
            unhandled.add_metric([job_type], n)
        yield unhandled
        if snap.recent_latency:
            recent = GaugeMetricFamily("reportgen_recent_job_latency_seconds",
                                       "Wait and duration percentiles of jobs finished in the last 5 minutes "
                                       "(at most the latest 2,000), read from the database",
                                       labels=["type", "kind", "quantile"])
            for row in snap.recent_latency:
                for kind in ("wait", "duration"):
                    for q, col in (("0.5", f"{kind}_p50"), ("0.99", f"{kind}_p99")):
                        if row.get(col) is not None:
                            recent.add_metric([row["type"], kind, q], float(row[col]))
            yield recent


DELIVERY_CHANNELS = ("email", "webhook", "owner")  # deliveries.channel's CHECK


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only add noise to every scrape
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.job_wait = Histogram("reportgen_job_wait_seconds", "Time from created (or run_at) to started",
                                  ["type"], buckets=WAIT_BUCKETS, registry=r)
        self.job_duration = Histogram("reportgen_job_duration_seconds", "Time from started to finished",
                                      ["type", "outcome"], buckets=DURATION_BUCKETS, registry=r)
        self.jobs_processed = Counter("reportgen_jobs_processed", "Job attempts finished, by outcome",
                                      ["type", "outcome"], registry=r)
        self.wakeups = Counter("reportgen_worker_wakeups", "Worker wake-ups by source", ["source"], registry=r)
        self.listener_up = Gauge("reportgen_listener_up", "1 while the worker's LISTEN connection is up and "
                                 "hears its own NOTIFY (0: down, or deaf behind a transaction pooler)",
                                 registry=r)
        self.in_flight = Gauge("reportgen_worker_in_flight", "Jobs this worker is running now", registry=r)
        self.rescued = Counter("reportgen_jobs_rescued", "Jobs whose lease expired, rescued by this worker",
                               registry=r)
        self.database_errors = Counter("reportgen_database_errors", "Database operations that failed and "
                                       "were retried", ["operation"], registry=r)
        self.schedule_fires = Counter("reportgen_schedule_fires", "Schedule fire times, by outcome (run, failed, "
                                      "skipped, duplicate)", ["outcome"], registry=r)
        self.deliveries = Counter("reportgen_deliveries", "Schedule deliveries that ended, by channel and outcome "
                                  "(delivered, failed: attempts used up)", ["channel", "outcome"], registry=r)
        self.delivery_attempts = Counter("reportgen_delivery_attempts", "Delivery attempts, by channel and "
                                         "outcome", ["channel", "outcome"], registry=r)
        self.delivery_lag = Histogram("reportgen_delivery_lag_seconds", "Time from a schedule's fire time to "
                                      "its delivery", ["channel"], buckets=LAG_BUCKETS, registry=r)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.queue = QueueCollector()
        r.register(self.queue)
        for source in ("notify", "poll"):
            self.wakeups.labels(source=source)
        for channel in DELIVERY_CHANNELS:  # exported at 0, so that increase() sees the first failure
            for outcome in ("delivered", "failed"):
                self.deliveries.labels(channel=channel, outcome=outcome)

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: the worker looks these up several times per job."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self, snapshot: QueueSnapshot | None) -> bytes:
        self.queue.snapshot = snapshot
        try:
            return generate_latest(self.registry)
        finally:
            self.queue.snapshot = None


def snapshot_from_rows(active: list[dict[str, Any]], finished: list[dict[str, Any]],
                       recent: list[dict[str, Any]] | None = None,
                       handled_types: set[str] | None = None) -> QueueSnapshot:
    snap = QueueSnapshot(recent_latency=recent or [])
    for row in active:
        snap.counts[(row["status"], row["type"])] = float(row["n"])
        if row["status"] == JobStatus.QUEUED:
            snap.oldest_age_seconds[row["type"]] = max(0.0, float(row["oldest_age_seconds"] or 0.0))
    for row in finished:
        snap.counts[(row["status"], row["type"])] = float(row["n"])
    if handled_types is not None:
        snap.unhandled = {job_type: n for (status, job_type), n in snap.counts.items()
                          if status == JobStatus.QUEUED and job_type not in handled_types}
    return snap
